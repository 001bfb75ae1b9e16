"""Export a model with pruning made permanent: a plain state_dict, or ONNX."""

import io
import os
import tempfile
import warnings
from pathlib import Path

import torch

from prunelab.errors import PrunelabError
from prunelab.foundations.files import write_bytes

FORMATS = ("onnx", "state_dict")


def export(model: torch.nn.Module, fmt: str, output, input_shape=(1, 28, 28)) -> Path:
    output = Path(output)
    model = model.cpu().eval()
    if fmt == "state_dict":
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        write_bytes(output, buffer.getvalue())
    elif fmt == "onnx":
        write_bytes(output, onnx_bytes(model, tuple(input_shape)))
    else:
        raise PrunelabError(f"unknown export format '{fmt}'; choose from {', '.join(FORMATS)}")
    return output


def onnx_bytes(model: torch.nn.Module, input_shape=(1, 28, 28)) -> bytes:
    """ONNX graph taking float32 (N, *input_shape) pixels / 255 and returning (N, classes) scores."""
    example = torch.zeros(1, *input_shape)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        path = os.path.join(folder, "model.onnx")
        torch.onnx.export(model, (example,), path, input_names=["pixels"], output_names=["scores"],
                          dynamic_axes={"pixels": {0: "batch"}, "scores": {0: "batch"}}, dynamo=False)
        return Path(path).read_bytes()


def onnx_predict(path, images_float) -> "numpy.ndarray":
    """Scores from an ONNX file under onnxruntime (for checking an export)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["scores"], {"pixels": images_float})[0]


MAX_ONNX_BYTES = 256 << 20  # the dense LeNet-300-100 export is 1 MB


def onnx_accuracy(path, images, labels, dataset: str = "the dataset") -> dict:
    """Test accuracy of an ONNX export under onnxruntime on a dataset's images (uint8 or float32,
    (N, H, W), (N, C, H, W) or (N, F)), fed as training feeds them, in the shape the file's input
    "pixels" declares."""
    import onnxruntime

    from prunelab.foundations.files import read_regular

    model_bytes = read_regular(path, MAX_ONNX_BYTES, "ONNX file")  # a FIFO or a device is named, not read
    try:
        session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        declared = tuple(session.get_inputs()[0].shape[1:])
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise PrunelabError(f"{path} is not a usable ONNX model: {str(exc).splitlines()[0]}") from None
    x = shaped_inputs(images, declared, f"{path}", dataset)
    try:
        scores = session.run(None, {session.get_inputs()[0].name: x})[0]
    except Exception as exc:
        raise PrunelabError(f"{path} failed under onnxruntime: {str(exc).splitlines()[0]}") from None
    correct = int((scores.argmax(1) == labels).sum())
    return {"test_accuracy": correct / len(labels), "test_correct": correct, "test_errors": len(labels) - correct}


def shaped_inputs(images, shape: tuple, origin: str, dataset: str) -> "numpy.ndarray":
    """A dataset's images as float32 model inputs (uint8 pixels / 255, as training feeds them) of one
    example's ``shape`` (a flat (F,) input takes the same values flattened); one line when they differ."""
    import numpy as np

    from prunelab.training.loop import as_input

    x = as_input(torch.from_numpy(np.ascontiguousarray(images))).numpy()
    if not all(isinstance(d, int) for d in shape) or x.shape[1:] == tuple(shape):
        return x  # a dimension without a fixed size is onnxruntime's to check
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape(len(x), *shape)
    raise PrunelabError(f"{origin} takes inputs of shape {tuple(shape)}; the examples of {dataset} are "
                        f"{tuple(x.shape[1:])}: give --dataset with the data the model was trained on")
