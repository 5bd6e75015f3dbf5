"""Exported files as Detectors: the same predict/val API on ONNX Runtime, OpenVINO, TorchScript
and TensorRT. Names, preprocessing and NMS defaults come from the file's metadata."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import threads
from ..devices import select_device
from ..errors import YoloArenaError
from ..models.base import Detector, EvalProtocol, HeadOutput, PostprocessDefaults
from ..models.transform import DetectTransform
from .formats import quiet_tracing, require
from .meta import META_KEY, loads

SUFFIXES = {".onnx": "onnx", ".torchscript": "torchscript", ".engine": "engine", ".xml": "openvino"}


def backend_of(path: Path) -> str | None:
    """The runtime a path needs, or None when it is not an exported model."""
    if path.is_dir():
        return "openvino" if (path / "model.xml").is_file() else None
    return SUFFIXES.get(path.suffix.lower())


class NMSOutput(HeadOutput):
    """Output of a graph with NMS inside: detections per image, already final."""

    def __init__(self, dets: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        super().__init__(levels=[])
        self.dets = dets


class RuntimeDetector(Detector):
    """An exported model behind the Detector API (inference only)."""

    def __init__(self, session: Any, meta: dict[str, Any], source: str) -> None:
        self.dynamic = bool(meta.get("dynamic"))
        h, w = meta["imgsz"]
        transform = DetectTransform.from_meta(meta["preprocess"], max(meta["stride"]), h)
        if not self.dynamic:
            transform = (
                transform.square()
            )  # fixed input: every image letterboxed to the export size
        super().__init__(meta["num_classes"], meta["stride"], meta["names"], transform, h)
        if h != w:
            raise YoloArenaError(f"'{source}' has a non-square input {h}x{w}; not supported yet")
        self.family = meta["family"]
        self.model_name = meta.get("model_name", "")
        self.meta, self.session, self.source = meta, session, source
        self.backend = meta["format"]
        self.batch = int(meta.get("batch", 1))
        self.predict_defaults = PostprocessDefaults(**meta.get("predict_defaults", {}))
        proto = EvalProtocol(**meta.get("eval_protocol", {}))
        self.eval_protocol = proto if self.dynamic else replace(proto, rect=False)
        self.deployed = True

    @property
    def device(self) -> torch.device:
        return self.session.device

    def deploy(self) -> RuntimeDetector:
        return self

    def forward(self, images: torch.Tensor, return_features: bool = False):
        if not self.dynamic and tuple(images.shape[2:]) != tuple(self.meta["imgsz"]):
            raise YoloArenaError(
                f"'{self.source}' was exported for {self.meta['imgsz']} input, got "
                f"{list(images.shape[2:])}; use imgsz={self.imgsz} or export with dynamic=True"
            )
        outs = self._run_chunks(images)
        names = self.meta["outputs"]
        named = dict(zip(names, outs, strict=True))
        if "num_dets" in named:
            num = [int(n) for n in named["num_dets"].reshape(-1).tolist()]
            boxes, scores, labels = named["det_boxes"], named["det_scores"], named["det_labels"]
            return NMSOutput([(boxes[i, :n], scores[i, :n], labels[i, :n].long())
                              for i, n in enumerate(num)])  # fmt: skip
        return HeadOutput([], named["boxes"], named["scores"], named.get("objectness"))

    def _run_chunks(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feed a fixed-batch file in chunks of its batch size (the last one padded)."""
        n = images.shape[0]
        if self.dynamic or n == self.batch:
            return self.session(images)
        parts = []
        for i in range(0, n, self.batch):
            chunk = images[i : i + self.batch]
            k = chunk.shape[0]
            if k < self.batch:
                chunk = torch.cat((chunk, chunk[:1].expand(self.batch - k, -1, -1, -1)), 0)
            parts.append([o[:k] for o in self.session(chunk)])
        return [torch.cat(p, 0) for p in zip(*parts, strict=True)]

    @torch.no_grad()
    def postprocess(self, output: HeadOutput, conf: float = 0.25, *args: Any, **kwargs: Any):
        if not isinstance(output, NMSOutput):
            return super().postprocess(output, conf, *args, **kwargs)
        classes = kwargs.get("classes")
        results = []
        for boxes, scores, labels in output.dets:  # NMS ran in the graph; only filter further
            keep = scores > conf
            if classes is not None:
                keep &= torch.isin(labels, torch.as_tensor(list(classes)))
            results.append((boxes[keep], scores[keep], labels[keep]))
        return results

    def metadata(self) -> dict[str, Any]:
        return dict(self.meta)

    def extra_repr(self) -> str:
        return f"backend={self.backend}, source={self.source}"


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """A runtime's output as a tensor: floats as float32, integers as int64."""
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.float() if t.is_floating_point() else t.long()


class OnnxSession:
    device = torch.device("cpu")

    def __init__(self, path: Path, device: torch.device) -> None:
        ort = require("onnxruntime", "Running ONNX models")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        opts = threads.onnxruntime_options(ort)  # thread count and waiting for the CPU load
        try:
            self.sess = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as e:
            raise YoloArenaError(f"'{path}' is not a loadable ONNX model: {e}") from None
        props = self.sess.get_modelmeta().custom_metadata_map
        self.meta = loads(props.get(META_KEY, ""), str(path))
        self.input = self.sess.get_inputs()[0].name
        self.dtype = np.float16 if "float16" in self.sess.get_inputs()[0].type else np.float32

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        arr = x.detach().cpu().contiguous().numpy().astype(self.dtype, copy=False)
        return [_tensor(o) for o in self.sess.run(None, {self.input: arr})]


class OpenVINOSession:
    device = torch.device("cpu")

    def __init__(self, folder: Path, device: torch.device) -> None:
        ov = require("openvino", "Running OpenVINO models")
        xml = folder / "model.xml"
        meta_file = folder / f"{META_KEY}.json"
        if not meta_file.is_file():
            raise YoloArenaError(f"'{folder}' has no {meta_file.name}; export it with yoloarena")
        self.meta = loads(meta_file.read_text(), str(folder))
        core = ov.Core()
        try:
            model = core.read_model(str(xml))
        except Exception as e:
            raise YoloArenaError(f"'{xml}' is not a readable OpenVINO IR: {e}") from None
        # the CPU plugin's default precision is bf16 on CPUs with AMX/AVX512-BF16: pin it, so an
        # FP32 IR computes in FP32 and an FP16 IR in FP16 where the CPU has it
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if self.meta.get("half") and "FP16" in caps:
            config["INFERENCE_PRECISION_HINT"] = "f16"
        config.update(threads.openvino_config())  # thread count and pinning for the CPU load
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        res = self.request.infer({0: x.detach().cpu().contiguous().numpy()})
        return [_tensor(np.array(res[o])) for o in self.compiled.outputs]


class TorchScriptSession:
    def __init__(self, path: Path, device: torch.device) -> None:
        files = {f"{META_KEY}.json": ""}
        try:
            with quiet_tracing():
                self.module = torch.jit.load(str(path), map_location=device, _extra_files=files)
        except Exception as e:
            raise YoloArenaError(f"'{path}' is not a loadable TorchScript file: {e}") from None
        self.meta = loads(files[f"{META_KEY}.json"], str(path))
        self.device = device
        self.half = bool(self.meta.get("half"))

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.to(self.device)
        with torch.inference_mode():
            outs = self.module(x.half() if self.half else x)
        return [o.float() if o.is_floating_point() else o for o in outs]


class TensorRTSession:
    def __init__(self, path: Path, device: torch.device) -> None:
        if device.type != "cuda":
            raise YoloArenaError(f"'{path}' is a TensorRT engine: it needs device=0 (CUDA)")
        trt = require("tensorrt", "Running TensorRT engines", "pip install tensorrt")
        blob = path.read_bytes()
        n = int.from_bytes(blob[:4], "little", signed=True)
        self.meta = loads(blob[4 : 4 + n], str(path))
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(blob[4 + n :])
        if self.engine is None:
            raise YoloArenaError(f"'{path}' is not a TensorRT engine this TensorRT can load")
        self.context = self.engine.create_execution_context()
        self.device, self.trt = device, trt
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        trt, ctx = self.trt, self.context
        x = x.to(self.device).contiguous()
        inp = self.names[0]
        if self.engine.get_tensor_dtype(inp) == trt.float16:
            x = x.half()
        ctx.set_input_shape(inp, tuple(x.shape))
        ctx.set_tensor_address(inp, x.data_ptr())
        outs = []
        for name in self.names[1:]:
            dtype = torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name))))
            out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dtype.dtype, device=x.device)
            ctx.set_tensor_address(name, out.data_ptr())
            outs.append(out)
        stream = torch.cuda.current_stream(self.device)
        ctx.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return [o.float() if o.is_floating_point() else o for o in outs]


_SESSIONS = {
    "onnx": OnnxSession,
    "openvino": OpenVINOSession,
    "torchscript": TorchScriptSession,
    "engine": TensorRTSession,
}


def load_exported(path: str | Path, device: torch.device | str = "cpu") -> RuntimeDetector:
    """A RuntimeDetector for an exported file (.onnx, .torchscript, .engine, OpenVINO folder)."""
    path = Path(path)
    if path.suffix == ".xml":
        path = path.parent
    backend = backend_of(path)
    if backend is None:
        raise YoloArenaError(f"'{path}' is not an exported model ({', '.join(SUFFIXES)})")
    if path.is_file() and path.stat().st_size == 0:
        raise YoloArenaError(f"'{path}' is empty (0 bytes); export it again")
    session = _SESSIONS[backend](path, select_device(device))
    return RuntimeDetector(session, session.meta, str(path))
