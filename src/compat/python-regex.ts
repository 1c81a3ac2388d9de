/**
 * Python `re` patterns, as PEFT configs use them (`target_modules` as a string, `rank_pattern`
 * and `alpha_pattern` keys), matched in time linear in the subject: the pattern becomes a
 * Thompson NFA whose states are all advanced together, one character at a time. JavaScript's
 * backtracking `RegExp` is not safe here: both the pattern and the module names come from the
 * uploader, and `(a+)+b` against thirty a's runs for minutes.
 *
 * Syntax follows Python's `sre_parse`: groups (`(?:…)`, `(?P<name>…)`), classes, `.`, `^`, `$`,
 * `\A`, `\Z`, `\b`, `\B`, `\d\w\s` and their negations, `*`, `+`, `?`, `{m,n}` (lazy forms too),
 * lookahead and fixed-width lookbehind, flags `a i m s u` (global at the start or scoped).
 * Backreferences, conditionals, atomic groups, possessive quantifiers and verbose mode are refused
 * with a `PythonRegexError`, like anything Python itself refuses.
 */

export class PythonRegexError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PythonRegexError'
  }
}

/** Bounds that keep compiling cheap; PEFT patterns are a few hundred characters. */
const MAX_PATTERN_LENGTH = 10_000
const MAX_GROUP_DEPTH = 100
const MAX_PROGRAM_SIZE = 50_000

type Flags = { ascii: boolean; ignoreCase: boolean; multiline: boolean; dotAll: boolean }
type CharTest = (cp: number) => boolean
/** Character tests the matcher runs inline: one code point, or any but a newline, or any. */
type Fast = { literal: number } | { anyButNewline: true } | { any: true }
type Anchor = 'bol' | 'bol_m' | 'eol' | 'eol_m' | 'start' | 'end' | 'word' | 'word_a' | 'nonword' | 'nonword_a'

type Node =
  | { type: 'char'; test: CharTest; fast?: Fast }
  | { type: 'seq'; items: Node[] }
  | { type: 'alt'; options: Node[] }
  | { type: 'repeat'; node: Node; min: number; max: number }
  | { type: 'anchor'; anchor: Anchor }
  | { type: 'look'; behind: boolean; negate: boolean; node: Node }

const NL = 10
const isDigit = (cp: number | undefined) => cp !== undefined && cp >= 0x30 && cp <= 0x39
const UNICODE_DIGIT = /\p{Nd}/u
const UNICODE_WORD = /[\p{L}\p{N}_]/u
const UNICODE_SPACE = /[\s\x1c-\x1f\x85]/u
const asciiWord = (cp: number) => (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f
const asciiSpace = (cp: number) => cp === 0x20 || (cp >= 0x09 && cp <= 0x0d)
const charOf = (cp: number) => String.fromCodePoint(cp)

function classEscape(letter: string, ascii: boolean): CharTest | undefined {
  const digit: CharTest = ascii ? (cp) => cp >= 0x30 && cp <= 0x39 : (cp) => UNICODE_DIGIT.test(charOf(cp))
  const word: CharTest = ascii ? asciiWord : (cp) => UNICODE_WORD.test(charOf(cp))
  const space: CharTest = ascii ? asciiSpace : (cp) => UNICODE_SPACE.test(charOf(cp)) && cp !== 0xfeff
  const tests: Record<string, CharTest> = { d: digit, w: word, s: space, D: (cp) => !digit(cp), W: (cp) => !word(cp), S: (cp) => !space(cp) }
  return tests[letter]
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c }

function caseless(test: CharTest): CharTest {
  return (cp) => {
    if (test(cp)) return true
    const text = charOf(cp)
    const lower = text.toLowerCase()
    const upper = text.toUpperCase()
    return (lower.length === text.length && test(lower.codePointAt(0) ?? cp)) || (upper.length === text.length && test(upper.codePointAt(0) ?? cp))
  }
}

class Parser {
  private readonly cps: number[]
  private pos = 0
  private depth = 0
  private readonly groupNames = new Set<string>()
  private readonly globalFlags: Flags

  constructor(source: string) {
    this.cps = Array.from(source, (ch) => ch.codePointAt(0) ?? 0)
    if (this.cps.length > MAX_PATTERN_LENGTH) throw new PythonRegexError(`the pattern is longer than ${MAX_PATTERN_LENGTH} characters`)
    this.globalFlags = { ascii: false, ignoreCase: false, multiline: false, dotAll: false }
  }

  parse(): Node {
    // Global flags like `(?i)` may only open the expression (Python 3.11).
    while (this.startsWith('(?') && this.isGlobalFlagGroup()) {
      this.pos += 2
      this.readFlags(this.globalFlags, false)
      this.expect(')')
    }
    const node = this.alternation({ ...this.globalFlags })
    if (this.pos < this.cps.length) throw this.error('unbalanced parenthesis')
    return node
  }

  private error(message: string): PythonRegexError {
    return new PythonRegexError(`${message} at position ${this.pos}`)
  }

  private peek(offset = 0): number | undefined {
    return this.cps[this.pos + offset]
  }

  private peekChar(offset = 0): string | undefined {
    const cp = this.peek(offset)
    return cp === undefined ? undefined : charOf(cp)
  }

  private startsWith(text: string): boolean {
    for (let i = 0; i < text.length; i++) if (this.peek(i) !== text.charCodeAt(i)) return false
    return true
  }

  private expect(text: string): void {
    if (!this.startsWith(text)) throw this.error(`missing ${text}`)
    this.pos += text.length
  }

  private isGlobalFlagGroup(): boolean {
    let i = 2
    while (/^[aiLmsux]$/.test(this.peekChar(i) ?? '')) i++
    return i > 2 && this.peek(i) === 0x29
  }

  /** Reads flag letters (and `-letters` when scoped) up to the closing ')' or ':'. */
  private readFlags(flags: Flags, scoped: boolean): void {
    let on = true
    for (;;) {
      const ch = this.peekChar()
      if (ch === ')' || ch === ':') return
      if (ch === '-' && scoped && on) {
        on = false
        this.pos++
        continue
      }
      if (ch === 'i') flags.ignoreCase = on
      else if (ch === 'm') flags.multiline = on
      else if (ch === 's') flags.dotAll = on
      else if (ch === 'a') flags.ascii = on
      else if (ch === 'u') flags.ascii = false
      else if (ch === 'x' || ch === 'L') throw this.error(`the ${ch} flag is not supported`)
      else throw this.error('unknown flag')
      this.pos++
    }
  }

  private alternation(flags: Flags): Node {
    const options = [this.sequence(flags)]
    while (this.peekChar() === '|') {
      this.pos++
      options.push(this.sequence(flags))
    }
    return options.length === 1 ? (options[0] as Node) : { type: 'alt', options }
  }

  private sequence(flags: Flags): Node {
    const items: Node[] = []
    // What the last item is: a bare anchor cannot be repeated (a group holding one can), a repeat not again.
    let last: 'none' | 'anchor' | 'repeat' | 'atom' = 'none'
    for (;;) {
      const ch = this.peekChar()
      if (ch === undefined || ch === '|' || ch === ')') break
      const quantifier = this.quantifier()
      if (quantifier) {
        const item = items.pop()
        if (item === undefined || last === 'none' || last === 'anchor') throw this.error('nothing to repeat')
        if (last === 'repeat') throw this.error('multiple repeat (possessive quantifiers are not supported)')
        if (this.peekChar() === '?') this.pos++
        items.push({ type: 'repeat', node: item, min: quantifier.min, max: quantifier.max })
        last = 'repeat'
        continue
      }
      const bareAnchor = ch === '^' || ch === '$' || (ch === '\\' && /^[bBAZ]$/.test(this.peekChar(1) ?? ''))
      const atom = this.atom(flags)
      // A comment leaves the previous item open to a quantifier, as in Python.
      if (atom === undefined) continue
      items.push(atom)
      last = bareAnchor ? 'anchor' : 'atom'
    }
    return items.length === 1 ? (items[0] as Node) : { type: 'seq', items }
  }

  /** `{m}`, `{m,}`, `{,n}`, `{m,n}` as Python reads them; undefined when the brace is a literal. */
  private quantifierBraces(): { min: number; max: number; length: number } | undefined {
    let i = 1
    let lo = ''
    let hi = ''
    if (this.peek(i) === 0x7d) return undefined
    while (isDigit(this.peek(i))) lo += this.peekChar(i++)
    let comma = false
    if (this.peek(i) === 0x2c) {
      comma = true
      i++
      while (isDigit(this.peek(i))) hi += this.peekChar(i++)
    }
    if (this.peek(i) !== 0x7d) return undefined
    const min = lo ? Number(lo) : 0
    const max = comma ? (hi ? Number(hi) : Number.POSITIVE_INFINITY) : min
    return { min, max, length: i + 1 }
  }

  private quantifier(): { min: number; max: number } | undefined {
    const ch = this.peekChar()
    if (ch === '*' || ch === '+' || ch === '?') {
      this.pos++
      return { min: ch === '+' ? 1 : 0, max: ch === '?' ? 1 : Number.POSITIVE_INFINITY }
    }
    if (ch !== '{') return undefined
    const braces = this.quantifierBraces()
    if (!braces) return undefined
    if (braces.min > braces.max) throw this.error('min repeat greater than max repeat')
    this.pos += braces.length
    return braces
  }

  private atom(flags: Flags): Node | undefined {
    const cp = this.peek() ?? 0
    const ch = charOf(cp)
    this.pos++
    if (ch === '(') return this.group(flags)
    if (ch === '[') return this.charClass(flags)
    if (ch === '.') return flags.dotAll ? { type: 'char', test: () => true, fast: { any: true } } : { type: 'char', test: (c) => c !== NL, fast: { anyButNewline: true } }
    if (ch === '^') return { type: 'anchor', anchor: flags.multiline ? 'bol_m' : 'bol' }
    if (ch === '$') return { type: 'anchor', anchor: flags.multiline ? 'eol_m' : 'eol' }
    if (ch === '\\') return this.escape(flags)
    return this.literal(cp, flags)
  }

  private literal(cp: number, flags: Flags): Node {
    const test: CharTest = (c) => c === cp
    return flags.ignoreCase ? { type: 'char', test: caseless(test) } : { type: 'char', test, fast: { literal: cp } }
  }

  private group(flags: Flags): Node | undefined {
    if (++this.depth > MAX_GROUP_DEPTH) throw this.error(`groups nest deeper than ${MAX_GROUP_DEPTH}`)
    try {
      if (this.peekChar() !== '?') return this.groupBody(flags)
      this.pos++
      const ch = this.peekChar()
      if (ch === ':') {
        this.pos++
        return this.groupBody(flags)
      }
      if (ch === 'P' && this.peekChar(1) === '<') {
        this.pos += 2
        const name = this.readUntil('>')
        if (!/^[\p{L}_][\p{L}\p{N}_]*$/u.test(name)) throw this.error(`bad character in group name '${name}'`)
        if (this.groupNames.has(name)) throw this.error(`redefinition of group name '${name}'`)
        this.groupNames.add(name)
        return this.groupBody(flags)
      }
      if (ch === 'P' && this.peekChar(1) === '=') throw this.error('backreferences are not supported')
      if (ch === '#') {
        this.readUntil(')')
        return undefined
      }
      if (ch === '=' || ch === '!') {
        this.pos++
        return { type: 'look', behind: false, negate: ch === '!', node: this.groupBody(flags) }
      }
      if (ch === '<' && (this.peekChar(1) === '=' || this.peekChar(1) === '!')) {
        const negate = this.peekChar(1) === '!'
        this.pos += 2
        const node = this.groupBody(flags)
        if (fixedWidth(node) === undefined) throw this.error('look-behind requires fixed-width pattern')
        return { type: 'look', behind: true, negate, node }
      }
      if (/^[aiLmsux-]$/.test(ch ?? '')) {
        const scoped = { ...flags }
        this.readFlags(scoped, true)
        if (this.peekChar() === ')') throw this.error('global flags not at the start of the expression')
        this.pos++
        return this.groupBody(scoped)
      }
      throw this.error(ch === '>' || ch === '(' ? 'atomic groups and conditionals are not supported' : 'unknown extension')
    } finally {
      this.depth--
    }
  }

  private groupBody(flags: Flags): Node {
    const node = this.alternation(flags)
    if (this.peekChar() !== ')') throw this.error('missing ), unterminated subpattern')
    this.pos++
    return node
  }

  private readUntil(end: string): string {
    let text = ''
    for (;;) {
      const ch = this.peekChar()
      if (ch === undefined) throw this.error(`missing ${end}`)
      this.pos++
      if (ch === end) return text
      text += ch
    }
  }

  /** A character escape's code point, or undefined when the escape is not a single character. */
  private escapedCodePoint(letter: string): number | undefined {
    const simple = SIMPLE_ESCAPES[letter]
    if (simple !== undefined) return simple
    const hexLength = letter === 'x' ? 2 : letter === 'u' ? 4 : letter === 'U' ? 8 : 0
    if (hexLength > 0) {
      let hex = ''
      for (let i = 0; i < hexLength; i++) hex += this.peekChar(i) ?? ''
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexLength) throw this.error(`incomplete escape \\${letter}`)
      const value = Number.parseInt(hex, 16)
      if (value > 0x10ffff) throw this.error('bad escape (out of range)')
      this.pos += hexLength
      return value
    }
    if (letter === '0') {
      let octal = ''
      while (octal.length < 2 && /^[0-7]$/.test(this.peekChar() ?? '')) {
        octal += this.peekChar()
        this.pos++
      }
      return Number.parseInt(`0${octal}`, 8)
    }
    return undefined
  }

  private escape(flags: Flags): Node {
    const cp = this.peek()
    if (cp === undefined) throw this.error('bad escape (end of pattern)')
    const letter = charOf(cp)
    this.pos++
    const anchors: Record<string, Anchor> = { A: 'start', Z: 'end', b: flags.ascii ? 'word_a' : 'word', B: flags.ascii ? 'nonword_a' : 'nonword' }
    const anchor = anchors[letter]
    if (anchor) return { type: 'anchor', anchor }
    const set = classEscape(letter, flags.ascii)
    if (set) return { type: 'char', test: set }
    if (/^[1-9]$/.test(letter)) throw this.error('backreferences are not supported')
    const value = this.escapedCodePoint(letter)
    if (value !== undefined) return this.literal(value, flags)
    if (/^[A-Za-z]$/.test(letter)) throw this.error(`bad escape \\${letter}`)
    return this.literal(cp, flags)
  }

  private charClass(flags: Flags): Node {
    const negate = this.peekChar() === '^'
    if (negate) this.pos++
    const ranges: [number, number][] = []
    const sets: CharTest[] = []
    let first = true
    for (;;) {
      const ch = this.peekChar()
      if (ch === undefined) throw this.error('unterminated character set')
      if (ch === ']' && !first) {
        this.pos++
        break
      }
      first = false
      const low = this.classMember(flags)
      if (typeof low !== 'number') {
        sets.push(low)
        continue
      }
      if (this.peekChar() === '-' && this.peekChar(1) !== ']' && this.peekChar(1) !== undefined) {
        this.pos++
        const high = this.classMember(flags)
        if (typeof high !== 'number' || high < low) throw this.error('bad character range')
        ranges.push([low, high])
      } else {
        ranges.push([low, low])
      }
    }
    const inSet: CharTest = (cp) => ranges.some(([low, high]) => cp >= low && cp <= high) || sets.some((test) => test(cp))
    const test = flags.ignoreCase ? caseless(inSet) : inSet
    return { type: 'char', test: negate ? (cp) => !test(cp) : test }
  }

  /** One member of a class: a code point, or a class escape such as `\d`. */
  private classMember(flags: Flags): number | CharTest {
    const cp = this.peek() ?? 0
    this.pos++
    if (cp !== 0x5c) return cp
    const next = this.peek()
    if (next === undefined) throw this.error('bad escape (end of pattern)')
    const letter = charOf(next)
    this.pos++
    const set = classEscape(letter, flags.ascii)
    if (set) return set
    if (letter === 'b') return 8
    const value = this.escapedCodePoint(letter)
    if (value !== undefined) return value
    if (/^[A-Za-z0-9]$/.test(letter)) throw this.error(`bad escape \\${letter}`)
    return next
  }
}

/** The width of what a node matches when it is fixed (Python's look-behind rule), else undefined. */
function fixedWidth(node: Node): number | undefined {
  switch (node.type) {
    case 'char':
      return 1
    case 'anchor':
    case 'look':
      return 0
    case 'seq': {
      let total = 0
      for (const item of node.items) {
        const width = fixedWidth(item)
        if (width === undefined) return undefined
        total += width
      }
      return total
    }
    case 'alt': {
      const widths = node.options.map(fixedWidth)
      const [head] = widths
      return widths.every((width) => width !== undefined && width === head) ? head : undefined
    }
    case 'repeat': {
      const width = fixedWidth(node.node)
      return width !== undefined && node.min === node.max ? width * node.min : undefined
    }
  }
}

type Inst =
  | { op: 'char'; test: CharTest; fast?: Fast }
  | { op: 'split'; x: number; y: number }
  | { op: 'jump'; to: number }
  | { op: 'anchor'; anchor: Anchor }
  | { op: 'look'; index: number; negate: boolean }
  | { op: 'match' }

type Look = { machine: Machine; behind: boolean }

class Compiler {
  readonly looks: Look[] = []
  private size = 0

  program(node: Node, reverse: boolean): Inst[] {
    const out: Inst[] = []
    this.emit(node, reverse, out)
    out.push({ op: 'match' })
    return out
  }

  private push(out: Inst[], inst: Inst): number {
    if (++this.size > MAX_PROGRAM_SIZE) throw new PythonRegexError('the pattern is too complex (counted repetitions expand too far)')
    out.push(inst)
    return out.length - 1
  }

  private emit(node: Node, reverse: boolean, out: Inst[]): void {
    switch (node.type) {
      case 'char':
        this.push(out, node.fast ? { op: 'char', test: node.test, fast: node.fast } : { op: 'char', test: node.test })
        return
      case 'anchor':
        this.push(out, { op: 'anchor', anchor: node.anchor })
        return
      case 'look': {
        // Look-ahead tables are filled by scanning right to left, look-behind ones left to right.
        const program = this.program(node.node, !node.behind)
        this.looks.push({ machine: new Machine(program), behind: node.behind })
        this.push(out, { op: 'look', index: this.looks.length - 1, negate: node.negate })
        return
      }
      case 'seq': {
        const items = reverse ? [...node.items].reverse() : node.items
        for (const item of items) this.emit(item, reverse, out)
        return
      }
      case 'alt': {
        const jumps: Inst[] = []
        node.options.forEach((option, index) => {
          const last = index === node.options.length - 1
          const split: Inst = { op: 'split', x: 0, y: 0 }
          if (!last) this.push(out, split)
          const begin = out.length
          this.emit(option, reverse, out)
          if (!last) {
            const jump: Inst = { op: 'jump', to: 0 }
            this.push(out, jump)
            jumps.push(jump)
            Object.assign(split, { x: begin, y: out.length })
          }
        })
        for (const jump of jumps) Object.assign(jump, { to: out.length })
        return
      }
      case 'repeat': {
        for (let i = 0; i < node.min; i++) this.emit(node.node, reverse, out)
        if (node.max === Number.POSITIVE_INFINITY) {
          const loop = this.push(out, { op: 'split', x: 0, y: 0 })
          this.emit(node.node, reverse, out)
          this.push(out, { op: 'jump', to: loop })
          Object.assign(out[loop] as Inst, { x: loop + 1, y: out.length })
          return
        }
        const splits: Inst[] = []
        for (let i = node.min; i < node.max; i++) {
          const split: Inst = { op: 'split', x: out.length + 1, y: 0 }
          this.push(out, split)
          splits.push(split)
          this.emit(node.node, reverse, out)
        }
        for (const split of splits) Object.assign(split, { y: out.length })
        return
      }
    }
  }
}

/** Work a single match may do, in NFA steps, before it is abandoned with a PythonRegexError. */
export type MatchBudget = { steps: number }

const ANCHORS: Anchor[] = ['bol', 'bol_m', 'eol', 'eol_m', 'start', 'end', 'word', 'word_a', 'nonword', 'nonword_a']
const enum Op {
  Literal,
  AnyButNewline,
  Any,
  Test,
  Split,
  Jump,
  Anchor,
  Look,
  Match,
}

function anchorHolds(anchor: number, cps: Int32Array, pos: number): boolean {
  const n = cps.length
  const name = ANCHORS[anchor]
  switch (name) {
    case 'bol':
    case 'start':
      return pos === 0
    case 'bol_m':
      return pos === 0 || cps[pos - 1] === NL
    case 'eol':
      return pos === n || (pos === n - 1 && cps[pos] === NL)
    case 'eol_m':
      return pos === n || cps[pos] === NL
    case 'end':
      return pos === n
    default: {
      const ascii = name?.endsWith('_a') === true
      const word = (index: number) => index >= 0 && index < n && (ascii ? asciiWord(cps[index] ?? 0) : UNICODE_WORD.test(charOf(cps[index] ?? 0)))
      const boundary = word(pos - 1) !== word(pos)
      // Python before 3.14: \B never matches the empty string.
      return name?.startsWith('word') === true ? boundary : !boundary && n > 0
    }
  }
}

/**
 * A compiled program with its working memory, preallocated once: opcodes and operands in typed
 * arrays, thread lists and the closure stack reused by every run.
 */
class Machine {
  private readonly ops: Uint8Array
  private readonly a: Int32Array
  private readonly b: Int32Array
  private readonly tests: (CharTest | undefined)[]
  private readonly marks: Int32Array
  private generation = 0
  private current: Int32Array
  private next: Int32Array
  private readonly stack: Int32Array

  constructor(program: Inst[]) {
    const size = program.length
    this.ops = new Uint8Array(size)
    this.a = new Int32Array(size)
    this.b = new Int32Array(size)
    this.tests = new Array<CharTest | undefined>(size)
    program.forEach((inst, pc) => {
      switch (inst.op) {
        case 'char': {
          const fast = inst.fast
          if (fast && 'literal' in fast) {
            this.ops[pc] = Op.Literal
            this.a[pc] = fast.literal
          } else if (fast && 'anyButNewline' in fast) this.ops[pc] = Op.AnyButNewline
          else if (fast && 'any' in fast) this.ops[pc] = Op.Any
          else {
            this.ops[pc] = Op.Test
            this.tests[pc] = inst.test
          }
          break
        }
        case 'split':
          this.ops[pc] = Op.Split
          this.a[pc] = inst.x
          this.b[pc] = inst.y
          break
        case 'jump':
          this.ops[pc] = Op.Jump
          this.a[pc] = inst.to
          break
        case 'anchor':
          this.ops[pc] = Op.Anchor
          this.a[pc] = ANCHORS.indexOf(inst.anchor)
          break
        case 'look':
          this.ops[pc] = Op.Look
          this.a[pc] = inst.index
          this.b[pc] = inst.negate ? 1 : 0
          break
        case 'match':
          this.ops[pc] = Op.Match
          break
      }
    })
    this.marks = new Int32Array(size)
    this.current = new Int32Array(size)
    this.next = new Int32Array(size)
    // Each instruction is expanded once per position; a split pushes two.
    this.stack = new Int32Array(2 * size + 2)
  }

  /**
   * Runs all threads in lockstep over the subject (left to right, or right to left for a
   * reversed program). `everyStart` starts a thread at each position (unanchored scans);
   * `onMatch` returns true to stop. Each position costs at most one visit per instruction.
   */
  run(cps: Int32Array, looks: Uint8Array[], backward: boolean, everyStart: boolean, budget: MatchBudget, onMatch: (pos: number) => boolean): void {
    const { ops, a, b, tests, marks, stack } = this
    const n = cps.length
    let count = 0
    let matched = false
    let steps = 0
    // Closure of `start` at `pos` into this.next (count threads), flagging a reached Match.
    const add = (start: number, pos: number, into: Int32Array, generation: number) => {
      let top = 0
      stack[top++] = start
      while (top > 0) {
        const pc = stack[--top] as number
        if (marks[pc] === generation) continue
        marks[pc] = generation
        steps++
        switch (ops[pc]) {
          case Op.Split:
            stack[top++] = b[pc] as number
            stack[top++] = a[pc] as number
            break
          case Op.Jump:
            stack[top++] = a[pc] as number
            break
          case Op.Anchor:
            if (anchorHolds(a[pc] as number, cps, pos)) stack[top++] = pc + 1
            break
          case Op.Look:
            if (((looks[a[pc] as number]?.[pos] ?? 0) === 1) !== (b[pc] === 1)) stack[top++] = pc + 1
            break
          case Op.Match:
            matched = true
            break
          default:
            into[count++] = pc
        }
      }
    }
    if (this.generation > 0x3fffffff) {
      marks.fill(0)
      this.generation = 0
    }
    for (let step = 0; ; step++) {
      const pos = backward ? n - step : step
      const generation = ++this.generation
      if (step === 0 || everyStart) add(0, pos, this.current, generation)
      if (matched && onMatch(pos)) return
      if (step === n || (count === 0 && !everyStart)) return
      budget.steps -= steps
      if (budget.steps < 0) throw new PythonRegexError('matching needs more work than allowed')
      steps = 0
      const threads = this.current
      const live = count
      count = 0
      matched = false
      const nextGeneration = ++this.generation
      const cp = cps[backward ? pos - 1 : pos] as number
      const following = backward ? pos - 1 : pos + 1
      for (let i = 0; i < live; i++) {
        const pc = threads[i] as number
        const op = ops[pc]
        const ok =
          op === Op.Literal ? a[pc] === cp : op === Op.AnyButNewline ? cp !== NL : op === Op.Any ? true : (tests[pc] as CharTest)(cp)
        if (ok) add(pc + 1, following, this.next, nextGeneration)
      }
      steps += live
      this.current = this.next
      this.next = threads
      // The next position's own start thread (everyStart) joins the same generation.
      this.generation = nextGeneration - 1
    }
  }
}

/** Code points of a string (Python indexes str by code point). */
function codePoints(text: string): Int32Array {
  const out = new Int32Array(text.length)
  let length = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        out[length++] = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
        i++
        continue
      }
    }
    out[length++] = unit
  }
  return length === text.length ? out : out.subarray(0, length)
}

const UNLIMITED: MatchBudget = { steps: Number.POSITIVE_INFINITY }

export class PythonRegex {
  private readonly machine: Machine
  private readonly looks: Look[]

  constructor(readonly source: string) {
    const node = new Parser(source).parse()
    const compiler = new Compiler()
    this.machine = new Machine(compiler.program(node, false))
    this.looks = compiler.looks
  }

  /** `re.fullmatch(pattern, text) is not None`. */
  fullMatch(text: string, budget: MatchBudget = UNLIMITED): boolean {
    const cps = codePoints(text)
    let found = false
    this.machine.run(cps, this.lookTables(cps, budget), false, false, budget, (pos) => (found = pos === cps.length))
    return found
  }

  /** `re.match(pattern, text) is not None`: anchored at the start, any end. */
  matchStart(text: string, budget: MatchBudget = UNLIMITED): boolean {
    const cps = codePoints(text)
    let found = false
    this.machine.run(cps, this.lookTables(cps, budget), false, false, budget, () => (found = true))
    return found
  }

  /** Where each lookaround holds (inner ones first: they were compiled first). */
  private lookTables(cps: Int32Array, budget: MatchBudget): Uint8Array[] {
    const tables: Uint8Array[] = []
    for (const look of this.looks) {
      const table = new Uint8Array(cps.length + 1)
      look.machine.run(cps, tables, !look.behind, true, budget, (pos) => {
        table[pos] = 1
        return false
      })
      tables.push(table)
    }
    return tables
  }
}
