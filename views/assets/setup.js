// Setup page: enroll a passkey with the one-time setup link.
(function () {
  'use strict';
  const { startRegistration, browserSupportsWebAuthn } = window.SimpleWebAuthnBrowser;
  const { postJson, describe, show } = window.LatchkeyPasskeys;
  const form = document.getElementById('setup-form');
  const button = document.getElementById('create');
  const status = document.getElementById('status');
  const error = document.getElementById('error');

  if (!browserSupportsWebAuthn()) {
    document.getElementById('unsupported').hidden = false;
    button.disabled = true;
    return;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    show(error, '');
    button.disabled = true;
    show(status, 'Follow the instructions from your browser or device…');
    try {
      const optionsJSON = await postJson('/webauthn/register/options', {
        setup_token: form.dataset.setupToken,
      });
      const response = await startRegistration({ optionsJSON });
      const result = await postJson('/webauthn/register/verify', response);
      show(status, 'Your passkey is ready. Taking you to sign-in…');
      window.location.assign(result.redirect);
    } catch (err) {
      show(status, '');
      show(error, describe(err));
      button.disabled = false;
    }
  });
})();
