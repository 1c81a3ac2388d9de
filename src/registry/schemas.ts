import { z } from '@hono/zod-openapi'

export const FindingSchema = z
  .object({
    code: z.string(),
    severity: z.enum(['error', 'warning', 'info']),
    tensor: z.string().optional(),
    expected: z.unknown().optional(),
    actual: z.unknown().optional(),
    message: z.string(),
  })
  .openapi('Finding')

const RuntimeVerdictSchema = z.object({
  compatible: z.boolean(),
  reasons: z.array(z.string()),
  notes: z.array(z.string()).optional().openapi({ description: 'How to make it load, e.g. the vLLM flag a high rank needs' }),
})

export const RuntimesSchema = z.object({
  vllm: RuntimeVerdictSchema,
  lorax: RuntimeVerdictSchema,
  tgi: RuntimeVerdictSchema,
  llamacpp: RuntimeVerdictSchema,
})
