"""
The official safetensors (Rust core) as the oracle for Refinery's strict reader.
Input: {"files": [base64 bytes]}; output: [[accepted, error message]] in the same order.
"""
import base64

from common import read_input, write_output


def main():
    from safetensors import deserialize

    verdicts = []
    for encoded in read_input()["files"]:
        try:
            deserialize(base64.b64decode(encoded))
            verdicts.append([True, ""])
        except Exception as error:
            verdicts.append([False, str(error)[:300]])
    write_output(verdicts)


if __name__ == "__main__":
    main()
