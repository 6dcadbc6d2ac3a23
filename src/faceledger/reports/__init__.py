"""Reports for the public: the accountability report (``faceledger report accountability``).

``accountability.build`` computes the content from audit records, ``policy_text`` states the
policy's rules in plain language, ``fairness_summary`` takes the latest fairness audit's rates
and limitations, and ``render.write`` writes ``report.json`` and a self-contained
``report.html``.
"""
