// Written by `php artisan wiremesh:install`: Echo on pusher-js, connected to wiremesh, with
// Livewire's updates (and channel authorization) over the same socket, and shared fragments.
// npm install --save-dev pusher-js laravel-echo wiremesh-livewire
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import {
  currentTransport,
  installFragments,
  installLivewireTransport,
  socketChannelAuthorizer,
} from 'wiremesh-livewire';

window.Pusher = Pusher;
window.pusher = new Pusher(import.meta.env.VITE_PUSHER_APP_KEY, {
  cluster: 'mt1',
  wsHost: import.meta.env.VITE_PUSHER_HOST || window.location.hostname,
  wsPort: Number(import.meta.env.VITE_PUSHER_PORT ?? 6001),
  wssPort: Number(import.meta.env.VITE_PUSHER_PORT ?? 443),
  forceTLS: (import.meta.env.VITE_PUSHER_SCHEME ?? 'https') === 'https',
  enabledTransports: ['ws', 'wss'],
  disableStats: true,
  // Private and presence channels: authorized by Laravel's /broadcasting/auth over the socket.
  channelAuthorization: {
    customHandler: socketChannelAuthorizer(currentTransport),
    endpoint: '/broadcasting/auth',
    transport: 'ajax',
  },
});
window.Echo = new Echo({ broadcaster: 'pusher', client: window.pusher });
installLivewireTransport({ pusher: window.pusher });
installFragments({ pusher: window.pusher });
