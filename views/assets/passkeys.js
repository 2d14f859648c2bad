// Shared helpers of the passkey pages. Loaded after @simplewebauthn/browser (UMD global).
(function () {
  'use strict';

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body || {}),
    });
    // An error page from a proxy may not be JSON: fall back to the status alone.
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(
        (data && data.message) || 'The request failed (' + response.status + ').',
      );
      error.code = data && data.code;
      throw error;
    }
    return data;
  }

  /** Turns a WebAuthn or server failure into a sentence for the person in front of the screen. */
  function describe(err) {
    if (!err) return 'Something went wrong. Please try again.';
    if (err.name === 'NotAllowedError')
      return 'The passkey request was cancelled or timed out. Try again when you are ready.';
    if (err.name === 'InvalidStateError')
      return 'This device already has a passkey for your account.';
    if (err.name === 'SecurityError') return 'Passkeys cannot be used on this address.';
    if (err.name === 'AbortError') return '';
    if (err.code === 'unknown_credential')
      return 'That passkey is not registered here. It may have been removed; ask your administrator for a new setup link.';
    if (err.code === 'user_disabled')
      return 'This account is disabled. Contact your administrator.';
    if (err.code === 'challenge_invalid') return 'The sign-in attempt expired. Please try again.';
    return err.message || 'Something went wrong. Please try again.';
  }

  function show(element, text) {
    if (!element) return;
    element.textContent = text;
    element.hidden = !text;
    if (text && element.getAttribute('role') === 'alert') element.focus();
  }

  window.LatchkeyPasskeys = { postJson: postJson, describe: describe, show: show };
})();
