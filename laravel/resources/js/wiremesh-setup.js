/*
 * Served by wiremesh/laravel for @wiremeshScripts (pages without Vite): connects the page to
 * wiremesh with pusher-js, puts Laravel Echo on the same connection, and sends Livewire's updates
 * and channel authorizations over that socket (wiremesh-livewire), falling back to HTTP.
 * Config: window.WIREMESH = { key, host, port, scheme } (rendered by @wiremeshScripts).
 * Exposes window.pusher, window.Echo, window.wiremeshTransport, window.wiremeshFragments.
 */
(function () {
  if (window.wiremeshTransport !== undefined || window.wiremeshSetup) return;
  window.wiremeshSetup = true;
  // laravel-echo's IIFE build defines a global `Echo` module object; Livewire treats any
  // window.Echo as an Echo instance, so take the module away and put back an instance (below).
  var EchoModule = window.Echo;
  window.Echo = undefined;
  var cfg = window.WIREMESH || {};
  if (!cfg.key || typeof window.Pusher !== 'function') {
    console.warn('wiremesh: pusher-js or window.WIREMESH is missing: Livewire stays on HTTP');
    return;
  }
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var lib = window.WiremeshLivewire;
  var tls = cfg.scheme === 'https';
  window.pusher = new window.Pusher(cfg.key, {
    wsHost: cfg.host || location.hostname,
    wsPort: cfg.port,
    wssPort: cfg.port,
    forceTLS: tls,
    enabledTransports: tls ? ['wss'] : ['ws'],
    cluster: 'mt1',
    disableStats: true,
    channelAuthorization:
      lib && typeof lib.socketChannelAuthorizer === 'function'
        ? {
            customHandler: lib.socketChannelAuthorizer(lib.currentTransport),
            endpoint: '/broadcasting/auth',
            transport: 'ajax',
          }
        : {
            endpoint: '/broadcasting/auth',
            transport: 'ajax',
            headers: { 'X-CSRF-TOKEN': csrf ? csrf.getAttribute('content') : '' },
          },
  });
  if (EchoModule && typeof EchoModule.default === 'function') {
    window.Echo = new EchoModule.default({ broadcaster: 'pusher', client: window.pusher });
  }
  if (!lib || typeof lib.installLivewireTransport !== 'function') return;
  window.wiremeshTransport = lib.installLivewireTransport({ pusher: window.pusher });
  if (typeof lib.installFragments === 'function') {
    window.wiremeshFragments = lib.installFragments({ pusher: window.pusher });
  }
})();
