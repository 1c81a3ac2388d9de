"""
PEFT as the oracle for Refinery's `compatible`.

Input: {"bases": {id: config.json}, "configs": [LoraConfig kwargs]}.
For each LoraConfig and each base: get_peft_model on the meta-device model (what training does);
the adapter is get_peft_model_state_dict(model), the keys and shapes save_pretrained writes.
Then every adapter made with that config is loaded into every base the way
PeftModel.from_pretrained does: the adapter's config injected into the base (get_peft_model),
then set_peft_model_state_dict. It loads when nothing raises (no size mismatch, targets found)
and no adapter tensor is left unused (unexpected keys).
Loads are memoised on (adapter keys and shapes, injected model keys and shapes): identical inputs.
Output: {"adapters": [{id, source, configIndex, config, tensors}], "verdicts": [[adapterId, target, loads, reason]], "loads": n}.
"""
import gc

from common import meta_model, read_input, saved_config, write_output


def signature(state):
    return tuple((name, tuple(tensor.shape)) for name, tensor in state.items())


def main():
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    request = read_input()
    bases = request["bases"]
    adapters = []
    verdicts = []
    loads = 0
    for index, kwargs in enumerate(request["configs"]):
        injected = {}
        made = []
        for base_id, hf_config in bases.items():
            try:
                # LoRA layers created on the meta device too: no initialisation work, shapes only.
                with torch.device("meta"):
                    model = get_peft_model(meta_model(hf_config), LoraConfig(**kwargs))
            except Exception as error:  # targets not found, unsupported layer…
                injected[base_id] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
                continue
            injected[base_id] = (model, signature(model.state_dict()))
            state = get_peft_model_state_dict(model)
            adapter_id = f"{index}:{base_id}"
            config = saved_config(model.peft_config["default"])
            config["base_model_name_or_path"] = base_id
            adapters.append({
                "id": adapter_id,
                "source": base_id,
                "configIndex": index,
                "config": config,
                "tensors": [[name, list(tensor.shape)] for name, tensor in state.items()],
            })
            made.append((adapter_id, state, signature(state)))
        memo = {}
        for target, entry in injected.items():
            for adapter_id, state, adapter_signature in made:
                if isinstance(entry, str):
                    verdicts.append([adapter_id, target, False, entry])
                    continue
                model, target_signature = entry
                key = (adapter_signature, target_signature)
                if key not in memo:
                    loads += 1
                    memo[key] = load(set_peft_model_state_dict, model, state)
                verdicts.append([adapter_id, target, *memo[key]])
        del injected, made, memo
        gc.collect()
    write_output({"adapters": adapters, "verdicts": verdicts, "loads": loads})


def load(set_peft_model_state_dict, model, state):
    try:
        result = set_peft_model_state_dict(model, state)
    except Exception as error:
        return [False, f"{type(error).__name__}: {' '.join(str(error).split())[:400]}"]
    unexpected = list(result.unexpected_keys)
    if unexpected:
        return [False, f"unused adapter tensors: {len(unexpected)}, e.g. {unexpected[0]}"]
    return [True, ""]


if __name__ == "__main__":
    main()
