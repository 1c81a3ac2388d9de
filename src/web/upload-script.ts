/**
 * The seller dashboard's upload script, served as a file from /static/upload.js (the page's CSP
 * allows scripts from this origin only, never inline code). It drives the same protocol as
 * `refinery publish`: hash each file, create the version (its declared files), PUT each file to
 * its signed URL (multipart files part by part, keeping each part's ETag), complete the version,
 * then wait for validation and come back to the dashboard. Progress is a <progress> bar and a
 * status line. Without JavaScript the form posts to a route that says how to publish instead.
 */
export const UPLOAD_SCRIPT = `'use strict'
;(function () {
  var form = document.querySelector('form[data-upload]')
  if (!form) return
  var input = form.querySelector('input[type=file]')
  var submit = form.querySelector('button[type=submit]')
  var bar = form.querySelector('progress')
  var status = form.querySelector('[data-status]')
  var noScript = form.querySelector('[data-without-script]')
  if (noScript) noScript.hidden = true
  var ATTEMPTS = 3
  // Headers a page may not set; the browser sends them itself.
  var FORBIDDEN = /^(content-length|host|connection)$/i

  function say(text, error) {
    status.textContent = text
    status.className = error ? 'notice error' : 'notice'
    status.hidden = false
  }
  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) { return byte.toString(16).padStart(2, '0') }).join('')
  }
  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms) }) }

  async function call(url, body) {
    var init = body === undefined
      ? { credentials: 'same-origin', headers: { Accept: 'application/json' } }
      : { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) }
    var response = await fetch(url, init)
    var type = response.headers.get('Content-Type') || ''
    var data = type.indexOf('json') >= 0 ? await response.json() : null
    if (!response.ok) throw new Error(data && data.detail ? data.detail : 'The server answered ' + response.status + '.')
    return data
  }

  // fetch() reports no upload progress; XMLHttpRequest does.
  function put(url, headers, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest()
      xhr.open('PUT', url)
      Object.keys(headers || {}).forEach(function (name) { if (!FORBIDDEN.test(name)) xhr.setRequestHeader(name, headers[name]) })
      xhr.upload.onprogress = function (event) { onProgress(event.loaded) }
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) return resolve({ etag: xhr.getResponseHeader('ETag') })
        var retry = xhr.status >= 500 || xhr.status === 408 || xhr.status === 429
        reject({ retry: retry, message: 'Storage refused the upload (' + xhr.status + ').' })
      }
      xhr.onerror = function () { reject({ retry: true, message: 'The upload was interrupted (network error).' }) }
      xhr.send(blob)
    })
  }

  async function putWithRetries(url, headers, blob, onProgress, label) {
    for (var attempt = 1; ; attempt++) {
      try {
        return await put(url, headers, blob, onProgress)
      } catch (failure) {
        onProgress(0)
        if (!failure.retry || attempt >= ATTEMPTS) throw new Error(label + ': ' + failure.message)
        say(label + ': ' + failure.message + ' Retrying (attempt ' + (attempt + 1) + ' of ' + ATTEMPTS + ')…')
        await sleep(500 * attempt)
      }
    }
  }

  // The base model the PEFT folder declares, preselected when it is in the list.
  input.addEventListener('change', async function () {
    var config = Array.from(input.files).find(function (file) { return file.name === 'adapter_config.json' })
    var select = form.querySelector('select[name=baseModel]')
    if (!config || !select) return
    try {
      var declared = JSON.parse(await config.text()).base_model_name_or_path
      if (Array.from(select.options).some(function (option) { return option.value === declared })) select.value = declared
    } catch (error) {
      say('adapter_config.json is not valid JSON: ' + error.message, true)
    }
  })

  form.addEventListener('submit', async function (event) {
    event.preventDefault()
    var files = Array.from(input.files)
    if (files.length === 0) return say('Choose the files of the PEFT output folder (adapter_config.json and adapter_model.safetensors).', true)
    var fields = new FormData(form)
    var version = String(fields.get('version') || '').trim()
    submit.disabled = true
    try {
      var declared = []
      for (var i = 0; i < files.length; i++) {
        say('Hashing ' + files[i].name + '…')
        declared.push({ path: files[i].name, size: files[i].size, sha256: hex(await crypto.subtle.digest('SHA-256', await files[i].arrayBuffer())) })
      }
      var created = await call(form.action, { version: version, baseModel: String(fields.get('baseModel') || ''), changelog: String(fields.get('changelog') || ''), files: declared })
      var total = files.reduce(function (sum, file) { return sum + file.size }, 0)
      var sent = {}
      bar.max = total
      bar.hidden = false
      var report = function (key, bytes) {
        sent[key] = bytes
        var done = Object.keys(sent).reduce(function (sum, name) { return sum + sent[name] }, 0)
        bar.value = done
        say('Uploading: ' + Math.floor((100 * done) / total) + '% of ' + files.length + ' files')
      }
      var parts = {}
      for (var u = 0; u < created.uploads.length; u++) {
        var upload = created.uploads[u]
        var file = files.find(function (candidate) { return candidate.name === upload.path })
        if (upload.kind === 'single') {
          await putWithRetries(upload.url, upload.headers, file, report.bind(null, upload.path), upload.path)
          continue
        }
        var etags = []
        var offset = 0
        for (var p = 0; p < upload.parts.length; p++) {
          var part = upload.parts[p]
          var key = upload.path + '#' + part.partNumber
          var answer = await putWithRetries(part.url, {}, file.slice(offset, offset + part.size), report.bind(null, key), upload.path + ' part ' + part.partNumber)
          if (!answer.etag) throw new Error('Storage returned no ETag for ' + upload.path + ' part ' + part.partNumber + ' (does the bucket expose ETag to browsers?).')
          etags.push({ partNumber: part.partNumber, etag: answer.etag })
          offset += part.size
        }
        parts[upload.path] = etags
      }
      var versionUrl = form.action + '/' + encodeURIComponent(version)
      say('Uploaded; validating ' + version + '…')
      var current = await call(versionUrl + '/complete', { parts: parts })
      while (current.status === 'validating') {
        await sleep(1000)
        current = await call(versionUrl)
      }
      location.assign(form.getAttribute('data-done') + '?uploaded=' + encodeURIComponent(version) + '#versions')
    } catch (error) {
      say(error.message, true)
      submit.disabled = false
    }
  })
})()
`
