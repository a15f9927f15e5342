// Known hosts in the browser: the gateway's host-key fingerprint pinned
// in local storage on first use, as `gateway dial` pins it in its
// known-hosts file. A changed key refuses the call before the password is
// sent (auth.CallerConfig.CheckHostKey).

const PREFIX = 'dialgate.hostkey.';

// checkHostKey compares fingerprint with the one pinned for host. It pins
// it on first use. Result: {ok, firstUse, pinned, message}.
export function checkHostKey(storage, host, fingerprint) {
  let pinned = null;
  try { pinned = storage.getItem(PREFIX + host); } catch { /* storage disabled */ }
  if (pinned === null) {
    try { storage.setItem(PREFIX + host, fingerprint); } catch { /* not remembered */ }
    return { ok: true, firstUse: true, pinned: fingerprint, message: '' };
  }
  if (pinned === fingerprint) return { ok: true, firstUse: false, pinned, message: '' };
  return {
    ok: false, firstUse: false, pinned,
    message: `pinned ${pinned}, offered ${fingerprint}`,
  };
}

// forgetHostKey removes the pin for host (after the operator confirmed a
// new key by other means).
export function forgetHostKey(storage, host) {
  try { storage.removeItem(PREFIX + host); } catch { /* storage disabled */ }
}
