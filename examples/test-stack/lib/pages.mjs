// HTML pages of the test authorization server. They load nothing from the network
// (no web fonts), so a headless browser without Internet access renders them at once,
// and every form has a stable id that tests (Go HTTP driver, Playwright) rely on:
//   #login-form  (fields: login, password)   on /interaction/<uid>
//   #op.deviceInputForm   (field: user_code) on /device
//   #op.deviceConfirmForm (confirm=yes; button name=abort value=yes denies)
//   #device-success, #device-error, #device-aborted   result markers on the device pages
//   #login-error                                      wrong credentials on the login form

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:24rem}
label{display:block;margin:.5rem 0}input{width:100%;box-sizing:border-box;padding:.4rem}
button{margin-top:.75rem;padding:.4rem 1rem}.error{color:#b00020}code{font-size:1.5rem}`;

export function escapeHTML(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function layout(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHTML(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHTML(title)}</h1>
${body}
</body>
</html>`;
}

export function loginPage({ uid, clientId, error, login }) {
  const message = error
    ? `<p id="login-error" class="error">${escapeHTML(error)}</p>`
    : '<p>Sign in with any user name and the password <code>demo</code>.</p>';
  return layout('Sign in', `<p>Application: <strong>${escapeHTML(clientId)}</strong></p>
${message}
<form id="login-form" method="post" action="/interaction/${escapeHTML(uid)}/login">
<label>User name <input id="login" type="text" name="login" value="${escapeHTML(login)}" autocomplete="username" autofocus required></label>
<label>Password <input id="password" type="password" name="password" autocomplete="current-password" required></label>
<button id="submit" type="submit">Sign in</button>
</form>
<form id="abort-form" method="post" action="/interaction/${escapeHTML(uid)}/abort">
<button id="abort" type="submit">Cancel</button>
</form>`);
}

export function errorPage(out) {
  const rows = Object.entries(out)
    .map(([k, v]) => `<dt>${escapeHTML(k)}</dt><dd>${escapeHTML(v)}</dd>`)
    .join('');
  return layout('Error', `<dl id="error">${rows}</dl>`);
}

export function deviceInputPage(form, err) {
  let message = '<p>Enter the code displayed on your device.</p>';
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    message = '<p id="device-error" class="error">The code you entered is incorrect. Try again.</p>';
  } else if (err && err.name === 'AbortedError') {
    message = '<p id="device-aborted" class="error">The sign-in request was interrupted.</p>';
  } else if (err) {
    message = '<p id="device-error" class="error">There was an error processing your request.</p>';
  }
  // oidc-provider's form has no button of its own; the button below submits it.
  return layout('Device sign-in', `${message}
${form}
<button id="submit" type="submit" form="op.deviceInputForm">Continue</button>`);
}

export function deviceConfirmPage(form, clientName, userCode) {
  // The abort button belongs to the same form (form= attribute), as in oidc-provider's
  // default page: a person either confirms or aborts the displayed code.
  return layout('Confirm device', `<p><strong>${escapeHTML(clientName)}</strong> asks for access.
The following code should be displayed on your device:</p>
<p><code id="user-code">${escapeHTML(userCode)}</code></p>
${form}
<button id="confirm" type="submit" form="op.deviceConfirmForm">Continue</button>
<button id="abort" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
}

export function deviceSuccessPage(clientName) {
  return layout('Sign-in success', `<p id="device-success">Your sign-in with
<strong>${escapeHTML(clientName)}</strong> was successful. You can close this page.</p>`);
}

export function logoutPage(form, host) {
  return layout('Sign out', `<p>Sign out from ${escapeHTML(host)}?</p>
${form}
<button id="logout" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

export function logoutSuccessPage() {
  return layout('Signed out', '<p id="logout-success">You are signed out.</p>');
}
