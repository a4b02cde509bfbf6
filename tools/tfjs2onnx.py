"""TFJS graph model (model.json + .bin shards) -> ONNX. A developer tool, run once by
bin/convert-centernet in its own venv (tensorflow-cpu, tf2onnx, onnx): none of these is a
runtime dependency of hg, which only loads the resulting ONNX with onnxruntime.

usage: python tfjs2onnx.py MODEL.json OUT.onnx [--input NAME] [--output NAME]...

Steps: parse `modelTopology` (a TensorFlow GraphDef written as JSON), fill the Const nodes
from the weight shards (`weightsManifest`, with TFJS's uint8/uint16 affine and float16
quantisation), replace the TFJS-only fused ops by their base op followed by BiasAdd and the
activation, then let tf2onnx convert the GraphDef (opset 13).
"""

import argparse
import json
import os

import numpy as np
import tensorflow as tf
import tf2onnx
from google.protobuf import json_format
from tensorflow.core.framework import graph_pb2

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
FUSED = {
    "_FusedConv2D": "Conv2D",
    "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
    "_FusedMatMul": "MatMul",
}
BASE_ATTRS = {
    "Conv2D": (
        "T",
        "strides",
        "padding",
        "dilations",
        "data_format",
        "explicit_paddings",
        "use_cudnn_on_gpu",
    ),
    "DepthwiseConv2dNative": (
        "T",
        "strides",
        "padding",
        "dilations",
        "data_format",
        "explicit_paddings",
    ),
    "MatMul": ("T", "transpose_a", "transpose_b"),
}
ACTIVATIONS = {"Relu", "Relu6", "Elu", "Sigmoid", "Tanh"}


def read_weights(model_dir, manifest):
    """Name -> numpy array for every weight in the manifest's shards."""
    weights = {}
    for group in manifest:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = spec["shape"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                qtype = np.dtype(quant["dtype"])
                raw = np.frombuffer(data, qtype, count, offset)
                offset += count * qtype.itemsize
                if quant["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * quant["scale"] + quant["min"]
                if spec["dtype"] == "int32":
                    arr = np.round(arr).astype(np.int32)
            else:
                dtype = np.dtype(DTYPES[spec["dtype"]])
                arr = np.frombuffer(data, dtype, count, offset)
                offset += count * dtype.itemsize
            weights[spec["name"]] = arr.reshape(shape)
        if offset != len(data):
            raise SystemExit(f"weight shards {group['paths']}: {len(data) - offset} bytes unused")
    return weights


def _node(graph, name, op, inputs, like):
    node = graph.node.add()
    node.name, node.op = name, op
    node.input.extend(inputs)
    node.attr["T"].CopyFrom(like.attr["T"])
    return node


def unfuse(graph):
    """A copy of the GraphDef with TFJS's fused ops split into standard TensorFlow ops."""
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph.versions)
    out.library.CopyFrom(graph.library)
    for n in graph.node:
        if n.op not in FUSED:
            out.node.append(n)
            continue
        base = FUSED[n.op]
        fused = [s.decode() for s in n.attr["fused_ops"].list.s]
        core = out.node.add()
        core.name = n.name if not fused else n.name + "/_base"
        core.op = base
        core.device = n.device
        core.input.extend(n.input[:2])
        for key in BASE_ATTRS[base]:
            if key in n.attr:
                core.attr[key].CopyFrom(n.attr[key])
        last, extra = core.name, list(n.input[2:])
        for i, op in enumerate(fused):
            name = n.name if i == len(fused) - 1 else f"{n.name}/_f{i}"
            if op == "BiasAdd":
                m = _node(out, name, "BiasAdd", [last, extra.pop(0)], n)
                if base != "MatMul" and "data_format" in n.attr:
                    m.attr["data_format"].CopyFrom(n.attr["data_format"])
            elif op in ACTIVATIONS:
                _node(out, name, op, [last], n)
            elif op == "LeakyRelu":
                m = _node(out, name, "LeakyRelu", [last], n)
                m.attr["alpha"].f = n.attr["leakyrelu_alpha"].f
            elif op == "Prelu":  # relu(x) - alpha * relu(-x)
                alpha = extra.pop(0)
                pos = _node(out, f"{n.name}/_prelu_pos", "Relu", [last], n)
                negx = _node(out, f"{n.name}/_prelu_negx", "Neg", [last], n)
                neg = _node(out, f"{n.name}/_prelu_neg", "Relu", [negx.name], n)
                mul = _node(out, f"{n.name}/_prelu_mul", "Mul", [alpha, neg.name], n)
                _node(out, name, "Sub", [pos.name, mul.name], n)
            else:
                raise SystemExit(f"unsupported fused op {op} in {n.name}")
            last = name
    return out


def tensor_names(signature_part):
    return [v["name"] if ":" in v["name"] else v["name"] + ":0" for v in signature_part.values()]


def convert(model_json, out_onnx, inputs=None, outputs=None, opset=13):
    with open(model_json) as f:
        model = json.load(f)
    graph = json_format.ParseDict(
        model["modelTopology"], graph_pb2.GraphDef(), ignore_unknown_fields=True
    )
    weights = read_weights(os.path.dirname(model_json), model["weightsManifest"])
    filled = 0
    for n in graph.node:
        if n.op == "Const" and n.name in weights:
            n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[n.name]))
            filled += 1
    if filled != len(weights):
        raise SystemExit(f"{len(weights) - filled} weights have no Const node")
    graph = unfuse(graph)
    signature = model.get("signature", {})
    inputs = inputs or tensor_names(signature["inputs"])
    outputs = outputs or tensor_names(signature["outputs"])
    print("inputs", inputs, "outputs", outputs)
    tf2onnx.convert.from_graph_def(
        graph, input_names=inputs, output_names=outputs, opset=opset, output_path=out_onnx
    )
    print("wrote", out_onnx, os.path.getsize(out_onnx), "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_json")
    ap.add_argument("out_onnx")
    ap.add_argument("--input", action="append", help="input tensor (default: the signature's)")
    ap.add_argument("--output", action="append", help="output tensor (default: the signature's)")
    args = ap.parse_args()
    convert(args.model_json, args.out_onnx, args.input, args.output)


if __name__ == "__main__":
    main()
