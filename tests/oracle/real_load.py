"""
What a buyer does with a downloaded adapter: PeftModel.from_pretrained into the base, then a
forward pass. Input: {"config": config.json, "adapterDir": path, "seed": n}. The base is built from
the config with seeded random weights on the CPU. Output: whether every adapter tensor loaded,
the largest logit difference against the base, and the LoRA modules PEFT created.
"""
from common import config_for, read_input, write_output


def main():
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    request = read_input()
    torch.manual_seed(request["seed"])
    base = AutoModelForCausalLM.from_config(config_for(request["config"])).eval()
    tokens = torch.arange(0, 12).unsqueeze(0) % request["config"]["vocab_size"]
    with torch.no_grad():
        before = base(tokens).logits.clone()
    model = PeftModel.from_pretrained(base, request["adapterDir"]).eval()
    lora_modules = sorted(name for name, module in model.named_modules() if hasattr(module, "lora_A") and "default" in module.lora_A)
    with torch.no_grad():
        after = model(tokens).logits
        model.disable_adapter_layers()
        disabled = model(tokens).logits
    write_output({
        "loraModules": lora_modules,
        "maxDifference": float((after - before).abs().max()),
        "disabledDifference": float((disabled - before).abs().max()),
        "finite": bool(torch.isfinite(after).all()),
    })


if __name__ == "__main__":
    main()
