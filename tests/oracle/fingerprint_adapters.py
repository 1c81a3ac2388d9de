"""
PEFT makes the adapters the fingerprint tests read (tests/oracle/fingerprint-peft.test.ts).

Input: {"dir": output folder, "hidden": n, "intermediate": n, "vocab": n, "layers": n}.
A small Llama (real weights, seeded) is the base. Each adapter is get_peft_model(base, LoraConfig(
use_dora=True, modules_to_save=["lm_head"])) with seeded weights: A and B random, DoRA's m as PEFT
initialises it (the row norms of W + s·B·A) then moved 2% as training would, the saved lm_head the
base's moved 2%. save_pretrained writes adapter_model.safetensors. Made:
  original      F32
  bf16          the original's model cast to bfloat16, saved again
  f16           cast to float16, saved again
  reparam       A → R·A, B → B·R⁻¹ (random orthogonal R, times 3 / 3), m and lm_head kept
  m_kept        A and B replaced by another seed's, m (and lm_head) kept
  head_kept     A, B and m replaced, the saved lm_head kept
  unrelated_i   independent adapters on the same base (i < 6)
Output: {"files": {name: path}, "keys": tensor names of the original}.
"""
import os

from common import read_input, write_output


def main():
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors import safe_open
    from transformers import LlamaConfig, LlamaForCausalLM

    request = read_input()
    out = request["dir"]
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=request["hidden"],
        intermediate_size=request["intermediate"],
        num_hidden_layers=request["layers"],
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=request["vocab"],
    )
    files = {}

    def make(seed, drift_seed):
        torch.manual_seed(1234)  # the base: the same weights for every adapter
        base = LlamaForCausalLM(config)
        lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], use_dora=True, modules_to_save=["lm_head"], init_lora_weights=False)
        torch.manual_seed(seed)
        model = get_peft_model(base, lora)
        generator = torch.Generator().manual_seed(drift_seed)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_A" in name or "lora_B" in name:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * (0.02 if "lora_A" in name else 0.01))
            for name, module in model.named_modules():
                if hasattr(module, "lora_magnitude_vector") and "default" in getattr(module, "lora_magnitude_vector", {}):
                    m = module.lora_magnitude_vector["default"].weight
                    # PEFT's own m for these A and B, then moved 2% as training would.
                    weight = module.get_base_layer().weight
                    delta = module.get_delta_weight("default")
                    m.copy_((weight + delta).norm(p=2, dim=1) * (1 + 0.02 * torch.randn(m.shape, generator=generator)))
                if hasattr(module, "modules_to_save") and "default" in module.modules_to_save:
                    w = module.modules_to_save["default"].weight
                    w.add_(0.02 * w.std() * torch.randn(w.shape, generator=generator))
        return model

    def save(model, name):
        folder = os.path.join(out, name)
        model.save_pretrained(folder, safe_serialization=True)
        files[name] = os.path.join(folder, "adapter_model.safetensors")

    def loras(model):
        return {name: p for name, p in model.named_parameters() if "lora_A" in name or "lora_B" in name}

    def magnitudes(model):
        return {name: p for name, p in model.named_parameters() if "lora_magnitude_vector" in name}

    def heads(model):
        return {name: p for name, p in model.named_parameters() if "modules_to_save" in name}

    original = make(seed=1, drift_seed=11)
    save(original, "original")
    for dtype, name in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        copy = make(seed=1, drift_seed=11).to(dtype)
        save(copy, name)

    copy = make(seed=1, drift_seed=11)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(5)
        for name, module in copy.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                a = module.lora_A["default"].weight
                b = module.lora_B["default"].weight
                q, _ = torch.linalg.qr(torch.randn(a.shape[0], a.shape[0], generator=generator, dtype=torch.float64))
                a.copy_((3 * q @ a.double()).float())
                b.copy_((b.double() @ q.T / 3).float())
    save(copy, "reparam")

    other = make(seed=2, drift_seed=22)
    copy = make(seed=1, drift_seed=11)
    with torch.no_grad():
        for (name, p), (_, q) in zip(sorted(loras(copy).items()), sorted(loras(other).items())):
            p.copy_(q)
    save(copy, "m_kept")
    copy = make(seed=3, drift_seed=33)
    with torch.no_grad():
        for (name, p), (_, q) in zip(sorted(heads(copy).items()), sorted(heads(original).items())):
            p.copy_(q)
    save(copy, "head_kept")
    for i in range(6):
        save(make(seed=100 + i, drift_seed=200 + i), f"unrelated_{i}")

    with safe_open(files["original"], "pt") as f:
        keys = sorted(f.keys())
    write_output({"files": files, "keys": keys})


if __name__ == "__main__":
    main()
