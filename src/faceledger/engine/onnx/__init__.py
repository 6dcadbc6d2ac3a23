"""Fast inference: dlib's descriptor and CNN detector converted to ONNX, run by onnxruntime."""

from faceledger.engine.onnx.runtime import (
    OnnxDescriptor,
    OnnxDescriptorInt8,
    OnnxMmodDetector,
    onnx_available,
)

__all__ = ["OnnxDescriptor", "OnnxDescriptorInt8", "OnnxMmodDetector", "onnx_available"]
