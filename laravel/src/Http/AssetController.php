<?php

namespace Wiremesh\Laravel\Http;

use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\Response;

/** The browser scripts @wiremeshScripts loads, from the app's node_modules (and this package). */
class AssetController
{
    public const FILES = [
        'pusher.min.js' => 'node_modules/pusher-js/dist/web/pusher.min.js',
        'echo.iife.js' => 'node_modules/laravel-echo/dist/echo.iife.js',
        'wiremesh-livewire.js' => 'node_modules/wiremesh-livewire/dist/wiremesh-livewire.js',
    ];

    public function __invoke(string $file): Response
    {
        $path = $file === 'wiremesh-setup.js'
            ? __DIR__.'/../../resources/js/wiremesh-setup.js'
            : (isset(self::FILES[$file]) ? base_path(self::FILES[$file]) : null);
        if ($path === null || ! is_file($path)) {
            $hint = isset(self::FILES[$file]) ? ' (npm install pusher-js laravel-echo wiremesh-livewire)' : '';

            return new Response("Not found{$hint}", 404, ['Content-Type' => 'text/plain']);
        }

        return (new BinaryFileResponse($path, 200, ['Content-Type' => 'text/javascript; charset=UTF-8']))
            ->setPublic()->setMaxAge(3600);
    }
}
