// Sign-in page: passkey button plus conditional UI (autofill) where the browser supports it.
(function () {
  'use strict';
  const {
    startAuthentication,
    browserSupportsWebAuthn,
    browserSupportsWebAuthnAutofill,
    WebAuthnAbortService,
  } = window.SimpleWebAuthnBrowser;
  const { postJson, describe, show } = window.LatchkeyPasskeys;
  const form = document.getElementById('login-form');
  const button = document.getElementById('sign-in');
  const error = document.getElementById('error');
  const returnTo = form.dataset.returnTo || '';

  if (!browserSupportsWebAuthn()) {
    document.getElementById('unsupported').hidden = false;
    button.disabled = true;
    return;
  }

  async function signIn(useBrowserAutofill) {
    const optionsJSON = await postJson('/webauthn/authenticate/options', {});
    const response = await startAuthentication({ optionsJSON, useBrowserAutofill });
    const query = returnTo ? '?return_to=' + encodeURIComponent(returnTo) : '';
    const result = await postJson('/webauthn/authenticate/verify' + query, response);
    window.location.assign(result.redirect);
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    show(error, '');
    button.disabled = true;
    WebAuthnAbortService.cancelCeremony();
    try {
      await signIn(false);
    } catch (err) {
      show(error, describe(err));
      button.disabled = false;
    }
  });

  browserSupportsWebAuthnAutofill().then((supported) => {
    if (!supported) return;
    signIn(true).catch((err) => {
      // An autofill ceremony is aborted whenever the button starts its own: not an error.
      if (err && (err.name === 'AbortError' || err.name === 'NotAllowedError')) return;
      show(error, describe(err));
    });
  });
})();
