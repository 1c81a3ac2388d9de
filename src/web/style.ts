/** The storefront's only stylesheet, served from /static (no third-party CDN). */
export const STYLESHEET = `
:root { --ink:#1d2330; --muted:#5b6472; --line:#dfe3ea; --bg:#f7f8fa; --accent:#2457c5; --ok:#1b7a3d; --bad:#b3261e; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color:var(--ink); background:var(--bg); }
a { color:var(--accent); }
header.site { background:#fff; border-bottom:1px solid var(--line); }
header.site .bar, main { max-width:1100px; margin:0 auto; padding:0 1rem; }
header.site .bar { display:flex; gap:1rem; align-items:center; min-height:3.5rem; flex-wrap:wrap; }
header.site .brand { font-weight:700; font-size:1.15rem; text-decoration:none; color:var(--ink); }
header.site nav { margin-left:auto; display:flex; gap:1rem; align-items:center; }
header.site form { margin:0; }
form.inline { display:inline; margin:0; }
main { padding-top:1.5rem; padding-bottom:3rem; }
h1 { font-size:1.6rem; margin:.2rem 0 .5rem; }
h2 { font-size:1.2rem; margin:2rem 0 .6rem; }
.muted { color:var(--muted); }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:1rem 1.2rem; margin:.8rem 0; }
.grid { display:grid; grid-template-columns: 260px 1fr; gap:1.5rem; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
form.filters label, form.stack label { display:block; font-weight:600; font-size:.9rem; margin:.7rem 0 .2rem; }
input[type=text], input[type=search], input[type=email], input[type=password], input[type=number], select, textarea { width:100%; padding:.45rem .5rem; border:1px solid #b9c0cc; border-radius:6px; font:inherit; background:#fff; }
textarea { min-height:8rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
button, .button { display:inline-block; padding:.45rem .9rem; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; font:inherit; cursor:pointer; text-decoration:none; }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline:3px solid #f0b400; outline-offset:2px; }
.result h3 { margin:0; font-size:1.1rem; }
.tags span, .badge { display:inline-block; font-size:.78rem; padding:.05rem .45rem; border-radius:999px; border:1px solid var(--line); background:#fff; margin:.1rem .2rem .1rem 0; }
.badge.yes { border-color:var(--ok); color:var(--ok); }
.badge.no { border-color:var(--bad); color:var(--bad); }
.verdict.yes { color:var(--ok); font-weight:700; }
.verdict.no { color:var(--bad); font-weight:700; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { text-align:left; padding:.4rem .55rem; border-bottom:1px solid var(--line); vertical-align:top; font-size:.92rem; }
th { background:#f0f2f6; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; word-break:break-all; }
.notice { padding:.7rem 1rem; border-radius:6px; background:#e8f0fe; border:1px solid #b6ccf5; margin:1rem 0; }
.notice.error { background:#fdecea; border-color:#f2b8b5; }
.markdown img { max-width:100%; }
.markdown pre { background:#f0f2f6; padding:.6rem; overflow:auto; }
pre { overflow-x:auto; max-width:100%; }
.chart { width:100%; height:auto; background:#fff; border:1px solid var(--line); border-radius:8px; }
.narrow { max-width:28rem; }
#compatibility th[scope=row] { min-width:11rem; }
#compatibility td:last-child { min-width:14rem; }
.scroll { overflow-x:auto; max-width:100%; }
.listing { display:grid; grid-template-columns:minmax(0,1fr) 340px; gap:1.5rem; align-items:start; }
.listing > .decision { grid-column:2; grid-row:1; position:sticky; top:1rem; margin-top:0; }
.listing > .listing-main { grid-column:1; grid-row:1; min-width:0; }
.listing-main > .summary { margin-top:0; }
.decision h2 { margin:.2rem 0 .4rem; font-size:1.1rem; }
.decision form.offer { border-top:1px solid var(--line); padding:.6rem 0; margin:0; }
.decision .terms { margin:0 0 .4rem; }
.decision .price { font-size:1.25rem; }
.decision button.buy { width:100%; font-size:1.05rem; padding:.6rem; }
.decision textarea { min-height:4rem; }
.decision .licence-line { font-size:.9rem; border-top:1px solid var(--line); padding-top:.6rem; }
.decision form#check { border-top:1px solid var(--line); padding-top:.4rem; }
.decision form#check h2 { font-size:1rem; }
.verdict-box .reason { margin:.2rem 0; font-size:.9rem; }
.verdict-box details summary { list-style-position:outside; }
details.matrix > summary { font-weight:600; margin:.4rem 0; }
@media (max-width: 800px) {
  .listing { grid-template-columns:1fr; gap:0; }
  .listing > .decision { grid-column:1; grid-row:1; position:static; }
  .listing > .listing-main { grid-row:2; }
  header.site .bar > .muted { display:none; }
  main { padding-top:.8rem; }
  h1 { font-size:1.35rem; }
}
ul.engines { list-style:none; padding:0; margin:0; }
details summary { cursor:pointer; }
.sr-only { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
`
