"""Zero-copy NumPy views of CPU torch tensors, and the in-place write every front end uses."""

import ml_dtypes
import torch

_FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# torch's own words for an in-place write to an inference tensor outside inference mode (2.x,
# its missing spaces included)
_INFERENCE = ("Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone to get "
              "a normal tensor before doing inplace update.See https://github.com/pytorch/rfcs/pull/17 for more "
              "details.")


def inference_refusal(tensor, name="tensor"):
    """torch's message for writing ``tensor`` in place now, naming it, if torch refuses that
    write (an inference tensor while inference mode is off), else None."""
    if tensor.is_inference() and not torch.is_inference_mode_enabled():
        return (f"{_INFERENCE} {name} is an inference tensor (made under torch.inference_mode()) and inference "
                f"mode is off: fill it inside torch.inference_mode(), or fill {name}.clone()")
    return None


def as_numpy(tensor, name="tensor"):
    """A zero-copy NumPy view of a CPU torch tensor of dtype float16/bfloat16/float32/float64.

    Writes to the view are writes to the tensor (bfloat16 is viewed as ``ml_dtypes.bfloat16``).
    Refuses, with a TypeError/ValueError and before anything is written: non-tensors,
    non-CPU or non-strided (sparse, ...) tensors, other dtypes, non-contiguous tensors,
    tensors with the negative bit set, inference tensors outside ``torch.inference_mode()``
    (torch refuses that write), and tensors that require grad while grad mode is enabled
    (torch.nn.init writes under ``torch.no_grad()``: do the same).
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise ValueError(f"{name} is on device {tensor.device}; fastinit.torch writes CPU tensors only "
                         f"(fill on CPU, then .to({str(tensor.device)!r}))")
    if tensor.layout != torch.strided:
        raise ValueError(f"{name} has layout {tensor.layout}; expected a dense (torch.strided) tensor")
    if tensor.dtype not in _FLOAT:
        raise TypeError(f"{name} has dtype {tensor.dtype}; expected torch.float16, torch.bfloat16, "
                        f"torch.float32 or torch.float64")
    if not tensor.is_contiguous():
        raise ValueError(f"{name} is not contiguous (stride {tuple(tensor.stride())} for shape "
                         f"{tuple(tensor.shape)}); fastinit writes in place, so pass a contiguous tensor")
    if tensor.is_neg():
        raise ValueError(f"{name} has its negative bit set; call .resolve_neg() first")
    refusal = inference_refusal(tensor, name)
    if refusal:
        raise ValueError(refusal)
    if tensor.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{name} requires grad and grad mode is enabled: writing it in place would bypass "
                         f"autograd; use torch.no_grad() (as torch.nn.init does)")
    t = tensor.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def _apply(tensor, fn, *args, **kwargs):
    """Run the NumPy scheme ``fn`` on the tensor's view under no_grad; bump autograd's version."""
    with torch.no_grad():
        fn(as_numpy(tensor), *args, **kwargs)
    torch.autograd.graph.increment_version(tensor)  # as an in-place torch op would
    return tensor
