// The API key: from ?key= (then removed from the address bar), else this tab's
// sessionStorage, else asked for with the key form.
const STORAGE = 'tickcast.apiKey';

export function initialKey() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('key');
  if (fromUrl) {
    sessionStorage.setItem(STORAGE, fromUrl);
    url.searchParams.delete('key');
    window.history.replaceState(null, '', url);
  }
  return fromUrl ?? sessionStorage.getItem(STORAGE) ?? undefined;
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE);
}

/** Shows the key form with a message; resolves with the key entered (and stores it). */
export function askForKey(message) {
  const form = document.getElementById('key-form');
  const input = form.querySelector('input');
  form.querySelector('[data-testid="key-message"]').textContent = message;
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener(
      'submit',
      (event) => {
        event.preventDefault();
        const key = input.value.trim();
        form.hidden = true;
        input.value = '';
        sessionStorage.setItem(STORAGE, key);
        resolve(key);
      },
      { once: true },
    );
  });
}
