<?php

namespace Wiremesh\Laravel\Tests;

use Illuminate\Support\Facades\Blade;
use Illuminate\Support\Facades\Route;

/** The browser client for Livewire pages: @wiremeshScripts, the injecting middleware, the served scripts. */
class ScriptsTest extends TestCase
{
    public function test_the_directive_prints_the_settings_and_the_scripts(): void
    {
        $html = Blade::render('@wiremeshScripts');

        $this->assertStringContainsString('window.WIREMESH = {"key":"app-key","host":null,"port":6001,"scheme":"http"};', $html);
        foreach (['pusher.min.js', 'echo.iife.js', 'wiremesh-livewire.js', 'wiremesh-setup.js'] as $file) {
            $this->assertStringContainsString('<script src="/wiremesh/assets/'.$file.'" data-navigate-once></script>', $html);
        }
        $this->get('/wiremesh/assets/wiremesh-setup.js')->assertOk()->assertHeader('Content-Type', 'text/javascript; charset=UTF-8');
        $this->get('/wiremesh/assets/secrets.js')->assertNotFound();
        $this->get('/wiremesh/assets/..%2F.env')->assertNotFound();
    }

    public function test_the_middleware_injects_the_scripts_into_livewire_pages_only_once(): void
    {
        config(['wiremesh.livewire.inject' => true]);
        $kernel = $this->app->make(\Illuminate\Contracts\Http\Kernel::class);
        $kernel->appendMiddlewareToGroup('web', \Wiremesh\Laravel\Http\InjectScripts::class);
        Route::middleware('web')->get('/plain', fn () => '<html><head></head><body>no component</body></html>');

        $page = $this->get('/')->assertOk()->getContent();
        $this->assertSame(1, substr_count($page, 'data-wiremesh-scripts'));
        $this->assertLessThan(strpos($page, '</head>'), strpos($page, 'data-wiremesh-scripts'));
        $this->assertStringNotContainsString('data-wiremesh-scripts', $this->get('/plain')->getContent());
    }
}
