"""Shared pieces of the oracle scripts: JSON in on stdin, JSON out on stdout, models on the meta device."""
import json
import logging
import os
import sys
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def read_input():
    return json.load(sys.stdin)


def write_output(value):
    json.dump(value, sys.stdout, default=lambda o: sorted(o) if isinstance(o, (set, frozenset)) else str(o))
    sys.stdout.flush()


def config_for(hf_config):
    from transformers import AutoConfig

    fields = {k: v for k, v in hf_config.items() if k not in ("architectures", "auto_map", "_name_or_path", "torch_dtype", "quantization_config")}
    return AutoConfig.for_model(**fields)


def meta_model(hf_config):
    """The base model with every parameter on the meta device: real shapes, no memory."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config_for(hf_config))


def saved_config(peft_config):
    """The adapter_config.json PEFT's save_pretrained writes (sets become lists)."""
    out = {}
    for key, value in peft_config.to_dict().items():
        if isinstance(value, (set, frozenset)):
            value = sorted(value)
        elif hasattr(value, "value"):  # enums such as task_type
            value = value.value
        out[key] = value
    return json.loads(json.dumps(out, default=str))
