// Account page: add a passkey as the signed-in user; confirm removals.
(function () {
  'use strict';
  const { startRegistration, browserSupportsWebAuthn } = window.SimpleWebAuthnBrowser;
  const { postJson, describe, show } = window.LatchkeyPasskeys;
  const button = document.getElementById('add-passkey');
  const status = document.getElementById('status');
  const error = document.getElementById('error');

  for (const form of document.querySelectorAll('form[data-confirm]')) {
    form.addEventListener('submit', (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  if (!browserSupportsWebAuthn()) {
    button.disabled = true;
    show(error, 'This browser does not support passkeys.');
    return;
  }

  button.addEventListener('click', async () => {
    show(error, '');
    button.disabled = true;
    show(status, 'Follow the instructions from your browser or device…');
    try {
      const optionsJSON = await postJson('/webauthn/register/options', {});
      const response = await startRegistration({ optionsJSON });
      await postJson('/webauthn/register/verify', response);
      window.location.reload();
    } catch (err) {
      show(status, '');
      show(error, describe(err));
      button.disabled = false;
    }
  });
})();
