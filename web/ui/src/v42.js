// V.42 with Access Security in the browser: the Go caller (dialgate.wasm,
// built from web/wasm) runs LAPM, the handshake and the sealed data phase
// over the page's WebSocket. This module loads it once.

let loading = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`${src} did not load`));
    document.head.appendChild(s);
  });
}

// loadV42 resolves to the dialgateV42 object that dialgate.wasm defines.
export function loadV42() {
  if (!loading) {
    loading = (async () => {
      await loadScript('wasm_exec.js');
      const go = new globalThis.Go();
      const { instance } = await WebAssembly.instantiateStreaming(fetch('dialgate.wasm'), go.importObject);
      go.run(instance); // runs until the page goes away
      if (!globalThis.dialgateV42) throw new Error('dialgate.wasm did not start');
      return globalThis.dialgateV42;
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}
