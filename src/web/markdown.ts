import MarkdownIt from 'markdown-it'

// Raw HTML in a seller's markdown is escaped, not passed through (html: false), and markdown-it's
// validateLink refuses javascript:, vbscript: and data: links other than images: safe to inline.
const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false })

/** A seller's markdown as HTML that cannot carry script or styles of its own. */
export const renderMarkdown = (source: string) => markdown.render(source)
