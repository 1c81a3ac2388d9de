"""
What transformers builds from a config.json: input {"bases": {id: {"config": config.json, "layerPrefix": "model.layers.{i}"}}},
output per base: sizes from the built config and the model's own modules (meta device), every
linear module of layer 0 as [out, in] (GPT-2's Conv1D transposed), the embedding and the head.
"""
from common import meta_model, read_input, write_output


def kv_heads(layer, config):
    """KV heads as the attention module uses them (Falcon-7B's multi_query means 1, whatever num_kv_heads says)."""
    for _, module in layer.named_modules():
        for attribute in ("num_key_value_heads", "num_kv_heads"):
            value = getattr(module, attribute, None)
            if isinstance(value, int):
                return value
    value = getattr(config, "num_key_value_heads", None)
    return value if isinstance(value, int) else config.num_attention_heads  # multi-head attention


def main():
    import torch
    from transformers.pytorch_utils import Conv1D

    out = {}
    for base_id, entry in read_input()["bases"].items():
        model = meta_model(entry["config"])
        config = model.config
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        container_path = entry["layerPrefix"].removesuffix(".{i}")
        container = model.get_submodule(container_path)
        layer_prefix = entry["layerPrefix"].replace("{i}", "0")
        layer = model.get_submodule(layer_prefix)
        modules = {}
        for name, module in layer.named_modules():
            if isinstance(module, torch.nn.Linear):
                modules[name] = [module.out_features, module.in_features]
            elif isinstance(module, Conv1D):
                modules[name] = [module.nf, module.weight.shape[0]]
        embed = model.get_input_embeddings()
        head = model.get_output_embeddings()
        names = {id(module): name for name, module in model.named_modules()}
        out[base_id] = {
            "modelType": config.model_type,
            "hiddenSize": text.hidden_size,
            "numHiddenLayers": len(container),
            "numAttentionHeads": text.num_attention_heads,
            "numKeyValueHeads": kv_heads(layer, text),
            "headDim": getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads,
            "vocabSize": embed.weight.shape[0],
            "modules": modules,
            "embed": {"module": names[id(embed)], "shape": list(embed.weight.shape)},
            "lmHead": {"module": names[id(head)], "shape": list(head.weight.shape), "tied": bool(getattr(text, "tie_word_embeddings", False))},
        }
    write_output(out)


if __name__ == "__main__":
    main()
