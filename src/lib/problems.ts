import type { ContentfulStatusCode } from 'hono/utils/http-status'

type ProblemSpec = {
  /** The HTTP status every answer with this code has. */
  status: ContentfulStatusCode
  /** The problem type's short summary (RFC 9457 `title`): the same for every answer with this code. */
  title: string
  /** When the API answers with it, in one sentence (the Errors table in docs/errors.md). */
  when: string
}

/**
 * Every problem code the API answers with: its status, title and when it happens. A code is a
 * type (`ProblemCode`), so `new ApiError('nto_found', …)` does not compile, and a code has one
 * status wherever it is thrown. docs/errors.md is generated from this table (`npm run docs:errors`).
 */
export const PROBLEMS = {
  // 400: the request itself is malformed
  bad_request: { status: 400, title: 'Bad request', when: 'The request could not be read (for example a malformed form body).' },
  credentials_in_query: { status: 400, title: 'Credentials in the URL', when: 'A token or API key was sent in the query string; send it in the Authorization header only.' },
  invalid_cursor: { status: 400, title: 'Invalid cursor', when: 'The `cursor` parameter is not one this API issued.' },
  invalid_json: { status: 400, title: 'Invalid JSON', when: 'The request body is not valid JSON.' },
  invalid_signature: { status: 400, title: 'Invalid Stripe signature', when: 'A Stripe webhook arrived without a Stripe-Signature header, or with one that does not verify.' },
  upload_interrupted: { status: 400, title: 'Upload interrupted', when: 'An upload to the app-served store ended before all its bytes arrived.' },

  // 401: who is calling is unknown
  api_key_revoked: { status: 401, title: 'API key revoked', when: 'The API key in the Authorization header has been revoked.' },
  invalid_api_key: { status: 401, title: 'Invalid API key', when: 'The Authorization header carries an `rfy_…` key that does not exist.' },
  invalid_authorization: { status: 401, title: 'Invalid Authorization header', when: 'The Authorization header is not `Bearer <access token or API key>`.' },
  invalid_credentials: { status: 401, title: 'Invalid credentials', when: '`login` was given an email or password that is wrong.' },
  invalid_token: { status: 401, title: 'Invalid access token', when: 'The access token does not verify or lacks its claims.' },
  token_expired: { status: 401, title: 'Access token expired', when: 'The access token has expired; log in again.' },
  token_revoked: { status: 401, title: 'Access token revoked', when: 'The user signed out (`logout`) after this access token was issued.' },
  unauthenticated: { status: 401, title: 'Session ended', when: "A storefront upload call arrived after the browser's session ended." },
  unauthorized: { status: 401, title: 'Credentials required', when: 'The operation needs an access token or API key and none was sent.' },

  // 403: the caller is known and not allowed
  access_token_required: { status: 403, title: 'Access token required', when: '`logout` was called with an API key; revoke a key with `revokeApiKey`.' },
  cross_origin_post: { status: 403, title: 'Cross-origin form post', when: "A storefront form was posted from a page that is not Refinery's own." },
  download_url_expired: { status: 403, title: 'Download URL expired', when: 'A signed download URL of the app-served store has expired; ask the API for a new one.' },
  gated_repo: { status: 403, title: 'Gated repository', when: 'A Hub client asked for the files of an adapter the caller holds no entitlement to (or a revoked one).' },
  insufficient_role: { status: 403, title: 'Insufficient role', when: "The caller's role in the team does not allow the action (for example a member inviting an owner)." },
  insufficient_scope: { status: 403, title: 'Insufficient scope', when: 'The API key lacks the scope the operation declares (`requiredScope` names it).' },
  invalid_download_token: { status: 403, title: 'Invalid download URL', when: 'A download URL of the app-served store is not valid, or is not a download URL.' },
  invalid_upload_token: { status: 403, title: 'Invalid upload URL', when: 'An upload URL of the app-served store is not valid, or is not an upload URL.' },
  key_team_mismatch: { status: 403, title: 'Key bound to another team', when: 'A team-bound API key was used for another team, or for something only an unbound credential may do.' },
  not_entitled: { status: 403, title: 'Not entitled', when: 'The caller holds no entitlement to the adapter (to download its files or review it).' },
  not_operator: { status: 403, title: 'Operators only', when: 'The operation is for platform operators (OPERATOR_EMAILS), with a token or an unbound key.' },
  not_team_member: { status: 403, title: 'Not a team member', when: 'The caller is not a member of the team that owns the resource.' },
  own_adapter: { status: 403, title: 'Own adapter', when: 'A seller tried to buy or review an adapter of their own team.' },
  repo_disabled: { status: 403, title: 'Repository disabled', when: 'A Hub client asked for the files of a listing its seller withdrew.' },
  revoked: { status: 403, title: 'Entitlement revoked', when: "The caller's entitlement to the adapter was revoked (a refund or a chargeback)." },
  upload_url_expired: { status: 403, title: 'Upload URL expired', when: 'A signed upload URL of the app-served store has expired; ask the API for a new one.' },

  // 404: nothing there (or nothing the caller may see)
  entry_not_found: { status: 404, title: 'Entry not found', when: 'A Hub client asked for a file path the version does not have.' },
  not_found: { status: 404, title: 'Not found', when: 'No route, or no resource the caller may see, at this path.' },
  object_missing: { status: 404, title: 'Stored object missing', when: 'A file the database records is missing from object storage.' },
  repo_not_found: { status: 404, title: 'Repository not found', when: 'A Hub client named a `team/slug` that is not a listing the caller may see.' },
  revision_not_found: { status: 404, title: 'Revision not found', when: 'A Hub client named a revision that is not a version of the listing.' },

  // 409: the request conflicts with the present state
  access_request_decided: { status: 409, title: 'Access request decided', when: 'An access request was approved or rejected already.' },
  access_request_pending: { status: 409, title: 'Access request pending', when: 'The caller already has a pending access request for this offer.' },
  adapter_not_available: { status: 409, title: 'Adapter not available', when: 'Checkout of an adapter that is withdrawn or has no published version.' },
  adapter_slug_taken: { status: 409, title: 'Adapter slug taken', when: 'The team already has an adapter with this slug.' },
  already_member: { status: 409, title: 'Already a member', when: 'The invited email already belongs to a member of the team.' },
  base_model_exists: { status: 409, title: 'Base model exists', when: 'A base model with this id (ignoring case) is already registered or seeded.' },
  base_model_not_pending: { status: 409, title: 'Base model not pending', when: 'An operator reviewed a base model that is not waiting for review.' },
  email_taken: { status: 409, title: 'Email taken', when: 'An account with this email already exists.' },
  invitation_expired: { status: 409, title: 'Invitation expired', when: 'The invitation expired (INVITATION_TTL_DAYS) before it was answered.' },
  invitation_not_pending: { status: 409, title: 'Invitation not pending', when: 'The invitation was already accepted, declined or revoked.' },
  last_owner: { status: 409, title: 'Last owner', when: "The change would leave the team without an owner." },
  listing_archived: { status: 409, title: 'Listing archived', when: 'A new offer was made on a withdrawn listing.' },
  multipart_upload_gone: { status: 409, title: 'Multipart upload gone', when: 'A part was sent to a multipart upload that is no longer open.' },
  not_flagged: { status: 409, title: 'Not flagged', when: 'An operator overruled a fingerprint verdict on a version that was neither rejected nor flagged as a copy.' },
  offer_exists: { status: 409, title: 'Offer exists', when: 'The listing already has an active offer on the same terms (`offerId` names it).' },
  offer_inactive: { status: 409, title: 'Offer withdrawn', when: 'Checkout of an offer its seller has withdrawn.' },
  payouts_not_enabled: { status: 409, title: 'Payouts not enabled', when: 'A priced offer was made before the team finished payout onboarding.' },
  review_exists: { status: 409, title: 'Review exists', when: 'The caller (or their team) already reviewed this version.' },
  seller_cannot_accept_payments: { status: 409, title: 'Seller cannot accept payments', when: "Checkout of a priced offer while the seller's payment account cannot take charges." },
  team_slug_taken: { status: 409, title: 'Team slug taken', when: 'The team slug is taken or reserved.' },
  too_many_invitations: { status: 409, title: 'Too many invitations', when: 'The team has as many open invitations as it may have.' },
  upload_incomplete: { status: 409, title: 'Upload incomplete', when: 'A version was completed while some of its files are not uploaded as declared (`files` lists them).' },
  version_exists: { status: 409, title: 'Version exists', when: 'The version number was used before; `nextFree` names the next free patch number.' },
  version_immutable: { status: 409, title: 'Version immutable', when: 'A change to a published version, whose files and metadata never change.' },
  version_not_published: { status: 409, title: 'Version not published', when: 'A review of a version that is not published.' },
  version_not_ready: { status: 409, title: 'Version not ready', when: 'The version has not passed validation yet (to publish it, or to check it against a base).' },
  version_rejected: { status: 409, title: 'Version rejected', when: 'An attempt to publish a version that failed validation.' },

  // 410, 413, 415, 416
  unavailable: { status: 410, title: 'Withdrawn', when: 'A download from a listing its seller withdrew.' },
  payload_too_large: { status: 413, title: 'Payload too large', when: 'The request body (or the declared file) is larger than the route takes.' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type', when: 'A file route was sent a body that is not application/octet-stream.' },
  range_not_satisfiable: { status: 416, title: 'Range not satisfiable', when: 'A download asked for a byte range outside the file.' },

  // 422: well-formed, but the content is refused
  amount_below_minimum: { status: 422, title: 'Amount below minimum', when: "The price is below Stripe's smallest charge in its currency (`minimum` names it)." },
  checksum_mismatch: { status: 422, title: 'Checksum mismatch', when: "The uploaded bytes do not match the file's declared sha256." },
  file_size_required: { status: 422, title: 'File size required', when: 'A file route needs the whole file with its size in X-File-Size.' },
  header_too_large: { status: 422, title: 'Header too large', when: 'The safetensors header is larger than the API reads.' },
  incomplete_header: { status: 422, title: 'Incomplete header', when: 'Too few bytes were sent to read the safetensors header (`needBytes` says how many).' },
  invalid_adapter_config: { status: 422, title: 'Invalid adapter config', when: "The adapter's adapter_config.json is not a PEFT LoRA config the engine can read (`field` names the culprit)." },
  invalid_base_config: { status: 422, title: 'Invalid base config', when: "A base model's config.json lacks or contradicts a field the engine needs (`field` names it)." },
  invalid_file_size: { status: 422, title: 'Invalid file size', when: 'The body is longer or shorter than X-File-Size says.' },
  invalid_multipart_parts: { status: 422, title: 'Invalid multipart parts', when: 'The parts list of a multipart upload was refused by storage or names a part this upload did not hand out.' },
  invalid_object_key: { status: 422, title: 'Invalid object key', when: 'An object key is not a relative path inside the local store.' },
  invalid_safetensors: { status: 422, title: 'Invalid safetensors', when: 'The file is not a valid safetensors file (`rule` names the broken rule).' },
  invalid_version_ref: { status: 422, title: 'Invalid version reference', when: 'A version reference is not `team/slug@version`.' },
  merge_shape_mismatch: { status: 422, title: 'Merge shape mismatch', when: 'A pending base model was merged into a verified one with other layer shapes.' },
  merge_target_required: { status: 422, title: 'Merge target required', when: 'A merge decision on a pending base model did not say which base it merges into (`into`).' },
  message_required: { status: 422, title: 'Message required', when: 'An on-request offer was requested without a `message` saying who asks and why.' },
  not_finite: { status: 422, title: 'Non-finite weight', when: 'A LoRA weight is NaN or infinite (`tensor` names it).' },
  offer_not_priced: { status: 422, title: 'Offer not priced', when: 'A price was set on a free or on-request offer.' },
  payment_rejected: { status: 422, title: 'Payment rejected', when: 'Stripe refused the request the API made for this call.' },
  pickle_rejected: { status: 422, title: 'Pickle rejected', when: 'The file is a Python pickle, which runs code when loaded and is never opened.' },
  quota_exceeded: { status: 422, title: 'Quota exceeded', when: "The upload would exceed a file count, file size or team storage quota (`quota` names it)." },
  size_mismatch: { status: 422, title: 'Size mismatch', when: 'The uploaded file has more or fewer bytes than the version declared.' },
  team_required: { status: 422, title: 'Team required', when: 'A base model registration could not tell which team registers it (`team`).' },
  too_many_pending_base_models: { status: 422, title: 'Too many pending base models', when: 'The team has as many base models waiting for review as it may have.' },
  unknown_base_model: { status: 422, title: 'Unknown base model', when: 'A body or query field names a base model that is not registered (or not usable by the caller).' },
  unknown_file: { status: 422, title: 'Unknown file', when: 'Completing a version named files it does not declare (`paths` lists them).' },
  unknown_merge_target: { status: 422, title: 'Unknown merge target', when: 'A pending base model was to merge into a base that is not verified.' },
  unsupported_dtype: { status: 422, title: 'Unsupported dtype', when: 'A LoRA weight is stored in a dtype fingerprints do not read (`dtype` names it).' },
  unsupported_format: { status: 422, title: 'Unsupported format', when: 'The file is another format (a zip checkpoint, GGUF, NumPy, a Git LFS pointer), not safetensors.' },
  validation_failed: { status: 422, title: 'Validation failed', when: 'The body, query, headers or path failed validation; `errors` lists each failing path.' },

  // 429, 500, 503: try again later
  rate_limited: { status: 429, title: 'Rate limited', when: 'Too many requests of this kind; Retry-After says when to try again.' },
  internal_error: { status: 500, title: 'Internal error', when: 'An unexpected failure; the detail quotes the request id, and the log has the rest.' },
  database_unavailable: { status: 503, title: 'Database unavailable', when: 'The database cannot be reached right now; Retry-After says when to try again.' },
  payments_not_configured: { status: 503, title: 'Payments not configured', when: 'A priced offer, checkout or Stripe webhook on a server without Stripe configured.' },
  payments_unavailable: { status: 503, title: 'Payments unavailable', when: 'Stripe did not answer in time; nothing was charged, and a retry reuses the same order.' },
  queue_unavailable: { status: 503, title: 'Queue unavailable', when: 'A Stripe event was stored but could not be queued; Stripe delivers it again.' },
  server_busy: { status: 503, title: 'Server busy', when: 'Too many password checks are running right now; Retry-After says when to try again.' },
  storage_not_configured: { status: 503, title: 'Storage not configured', when: 'The operation needs object storage and this server has none configured.' },
  storage_unavailable: { status: 503, title: 'Storage unavailable', when: 'Object storage cannot be reached right now; Retry-After says when to try again.' },
} as const satisfies Record<string, ProblemSpec>

export type ProblemCode = keyof typeof PROBLEMS

/** The statuses problems are answered with. */
export type ProblemStatus = (typeof PROBLEMS)[ProblemCode]['status']

export const problemCodes = Object.keys(PROBLEMS) as ProblemCode[]
