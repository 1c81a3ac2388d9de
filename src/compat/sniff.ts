export type FileFormat = 'safetensors' | 'pickle' | 'zip' | 'gguf' | 'numpy' | 'git_lfs_pointer' | 'unknown'

const LFS_POINTER = 'version https://git-lfs'

/**
 * Classifies a file from its first bytes, before anything parses it. Pickle is recognised by the
 * PROTO opcode (0x80, protocol 2..5) that torch.save's legacy format and every modern pickle start
 * with, unless the bytes are shaped like a safetensors length + '{' (or too few to tell);
 * zip covers torch.save's default (zip) checkpoints; GGUF/GGML/GGJT/GGLA are llama.cpp files.
 */
export function sniffFormat(prefix: Uint8Array): FileFormat {
  const b0 = prefix[0]
  const b1 = prefix[1]
  if (b0 === undefined) return 'unknown'
  // A safetensors length field can start 80 02..05 too (N = 640, 896…): its byte 8 is '{'.
  // Bytes not yet received could be anything: a short prefix is not called a pickle on that alone.
  const zeroOrMissing = (index: number) => index >= prefix.length || prefix[index] === 0
  const safetensorsShaped = zeroOrMissing(5) && zeroOrMissing(6) && zeroOrMissing(7) && (prefix.length < 9 || prefix[8] === 0x7b)
  if (b0 === 0x80 && b1 !== undefined && b1 >= 2 && b1 <= 5 && !safetensorsShaped) return 'pickle'
  if (startsWithAscii(prefix, 'PK\x03\x04') || startsWithAscii(prefix, 'PK\x05\x06')) return 'zip'
  if (startsWithAscii(prefix, 'GGUF') || startsWithAscii(prefix, 'GGML') || startsWithAscii(prefix, 'GGJT')) return 'gguf'
  // llama.cpp's pre-GGUF LoRA files: the u32 magic 'ggla' stored little-endian.
  if (startsWithAscii(prefix, 'algg') || startsWithAscii(prefix, 'ggla')) return 'gguf'
  if (startsWithAscii(prefix, '\x93NUMPY')) return 'numpy'
  if (startsWithAscii(prefix, LFS_POINTER)) return 'git_lfs_pointer'
  // u64 header length below 2^40, then the JSON object.
  if (prefix.length >= 8 && safetensorsShaped) return 'safetensors'
  return 'unknown'
}

function startsWithAscii(bytes: Uint8Array, text: string): boolean {
  if (bytes.length < text.length) return false
  for (let i = 0; i < text.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false
  return true
}
