// wrangler.toml bundles Swagger UI's files as text (rules of type "Text"), so /docs needs no CDN.
declare module 'swagger-ui-dist/swagger-ui.css' {
  const text: string
  export default text
}
declare module 'swagger-ui-dist/swagger-ui-bundle.js' {
  const text: string
  export default text
}
