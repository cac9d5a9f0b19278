<?php

namespace Wiremesh\Laravel\View;

use Wiremesh\Laravel\Wiremesh;

/** What @wiremeshScripts prints: the socket's settings, pusher-js, Echo, wiremesh-livewire, then the setup. */
final class Scripts
{
    public const MARKER = 'data-wiremesh-scripts';

    public static function html(): string
    {
        $connection = app(Wiremesh::class)->connection();
        $client = [
            'key' => $connection['key'],
            'host' => config('wiremesh.livewire.client_host'),
            'port' => (int) (config('wiremesh.livewire.client_port') ?: ($connection['options']['port'] ?? 6001)),
            'scheme' => config('wiremesh.livewire.client_scheme') ?: ($connection['options']['scheme'] ?? 'http'),
        ];
        $scripts = config('wiremesh.livewire.scripts') ?? array_map(
            fn ($file) => route('wiremesh.assets', ['file' => $file], false),
            ['pusher.min.js', 'echo.iife.js', 'wiremesh-livewire.js'],
        );
        $scripts[] = route('wiremesh.assets', ['file' => 'wiremesh-setup.js'], false);

        $html = '<script '.self::MARKER.' data-navigate-once>window.WIREMESH = '
            .json_encode($client, JSON_HEX_TAG | JSON_HEX_AMP | JSON_UNESCAPED_SLASHES).';</script>';
        foreach ($scripts as $src) {
            $html .= "\n".'<script src="'.e($src).'" data-navigate-once></script>';
        }

        return $html;
    }
}
