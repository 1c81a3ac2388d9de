"""
gguf-py's tensor-name maps as the oracle for the llama.cpp verdict. Input:
{"bases": [{"id", "arch", "blocks", "names": [hf tensor name without .weight]}], "renames": {arch: {from: [to…]}}}.
`renames` are the renames convert_hf_to_gguf.py applies before mapping (ChatGLM drops 'transformer.',
Baichuan splits W_pack, InternLM2 splits wqkv). Output: {id: {name: [gguf names] or null}}.
"""
from common import read_input, write_output


def main():
    import gguf

    request = read_input()
    out = {}
    for base in request["bases"]:
        arch = gguf.MODEL_ARCH[base["arch"]]
        names = gguf.get_tensor_name_map(arch, base["blocks"])
        renames = request["renames"].get(base["arch"], {})
        mapped = {}
        for name in base["names"]:
            candidates = [name]
            for source, targets in renames.items():
                if source in name:
                    candidates = [name.replace(source, target) for target in targets]
            results = [names.get_name(candidate + ".weight", try_suffixes=(".weight",)) for candidate in candidates]
            mapped[name] = None if any(result is None for result in results) else results
        out[base["id"]] = mapped
    write_output(out)


if __name__ == "__main__":
    main()
