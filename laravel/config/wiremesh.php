<?php

// wiremesh for this app: `php artisan wiremesh:start` turns this file (and the broadcasting
// connection it names) into wiremesh's own configuration; nothing else needs keeping in sync.
// Every server setting: docs/configuration.md in the wiremesh repository.

return [

    // The broadcasting connection (config/broadcasting.php) whose app id, key, secret and port
    // wiremesh serves. null: the default connection (BROADCAST_CONNECTION / BROADCAST_DRIVER).
    'connection' => env('WIREMESH_CONNECTION'),

    // Where the server listens (Reverb's REVERB_SERVER_* names are read too). The port defaults to
    // the connection's `options.port`, the port Laravel's broadcaster already posts to (PUSHER_PORT).
    'host' => env('WIREMESH_HOST', env('REVERB_SERVER_HOST', '127.0.0.1')),
    'port' => env('WIREMESH_PORT', env('REVERB_SERVER_PORT')),
    'log_level' => env('WIREMESH_LOG_LEVEL', 'info'),

    // The server program: a path to wiremesh's binary, else node_modules/.bin/wiremesh, else
    // `npx --yes wiremesh@<version>` (the version this package was made for).
    'binary' => env('WIREMESH_BINARY'),
    'version' => '0.1.0',

    // Several nodes: 'memory' (one node), 'redis', 'nats' or 'mesh'.
    'cluster' => [
        'driver' => env('WIREMESH_CLUSTER_DRIVER', 'memory'),
        'redis' => ['url' => env('WIREMESH_REDIS_URL', env('REDIS_URL', 'redis://127.0.0.1:6379'))],
        'nats' => ['servers' => array_filter(explode(',', (string) env('WIREMESH_NATS_SERVERS', 'nats://127.0.0.1:4222')))],
        'mesh' => [
            'host' => env('WIREMESH_MESH_HOST'),
            'port' => (int) env('WIREMESH_MESH_PORT', 6100),
            'peers' => array_filter(explode(',', (string) env('WIREMESH_MESH_PEERS', ''))),
            'dns' => env('WIREMESH_MESH_DNS'),
            'secret' => env('WIREMESH_MESH_SECRET'),
        ],
    ],

    // Livewire's requests over the page's socket. The tunnel forwards them to `upstream` (where
    // PHP answers; default APP_URL) and `public_url` is the origin pages are served from
    // (default APP_URL). 'enabled' => 'auto' turns it on when a `livewire.update` route exists.
    'livewire' => [
        'enabled' => env('WIREMESH_LIVEWIRE', 'auto'),
        'upstream' => env('WIREMESH_LIVEWIRE_UPSTREAM'),
        'public_url' => env('WIREMESH_PUBLIC_URL'),
        // Inject the browser client (@wiremeshScripts) before </head> of every HTML page that
        // holds a Livewire component, without touching the layout.
        'inject' => (bool) env('WIREMESH_INJECT', false),
        // Where the browser connects (@wiremeshScripts): null host = the page's own host; the
        // port and scheme default to the broadcasting connection's.
        'client_host' => env('WIREMESH_CLIENT_HOST'),
        'client_port' => env('WIREMESH_CLIENT_PORT'),
        'client_scheme' => env('WIREMESH_CLIENT_SCHEME'),
        // The scripts @wiremeshScripts loads, in order. Default: served by the package from
        // node_modules (npm install pusher-js laravel-echo wiremesh-livewire).
        'scripts' => null,
    ],

    // Shared fragments (Wiremesh::fragment(...)): rendered once per node, not once per viewer.
    'fragments' => [
        'path' => 'wiremesh/fragments',
        'window_ms' => 100,
        'interval_ms' => 0,
        // Render requests older than this are refused (seconds).
        'max_age' => 60,
    ],

    // wiremesh's webhooks, dispatched as Laravel events (Wiremesh\Laravel\Events\*).
    'webhooks' => [
        'enabled' => (bool) env('WIREMESH_WEBHOOKS', true),
        'path' => 'wiremesh/webhook',
        'events' => ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'user_online', 'user_offline'],
    ],

    // Channels that keep a bounded history, so a client that reconnects gets what it missed.
    // e.g. ['channels' => ['private-orders.*'], 'maxEvents' => 100]
    'history' => [],

    // Anything else of wiremesh's configuration, merged over what is built above
    // (e.g. ['limits' => ['maxConnections' => 10000]] or ['apps' => [0 => ['clientEvents' => true]]]).
    'server' => [],
];
