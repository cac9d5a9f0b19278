<?php

namespace Wiremesh\Laravel\Tests;

use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Testing\TestCase as BaseTestCase;

/**
 * Runs inside a Laravel app that has this package installed: the app is the working directory
 * (or WIREMESH_TEST_APP), as when `phpunit` runs from the app's root.
 */
abstract class TestCase extends BaseTestCase
{
    public function createApplication(): Application
    {
        $base = getenv('WIREMESH_TEST_APP') ?: getcwd();
        $app = require $base.'/bootstrap/app.php';
        $app->make(Kernel::class)->bootstrap();

        return $app;
    }

    protected function tearDown(): void
    {
        parent::tearDown();
        // Laravel 10 leaves its error and exception handlers installed (PHPUnit 11 calls that risky).
        restore_error_handler();
        restore_exception_handler();
    }

    /** A request body signed as wiremesh signs it, with its headers. */
    protected function signed(array $body, string $signingKey, ?string $key = null): array
    {
        $raw = json_encode($body);

        return [$raw, [
            'CONTENT_TYPE' => 'application/json',
            'HTTP_X_PUSHER_KEY' => $key ?? config('broadcasting.connections.wiremesh.key'),
            'HTTP_X_PUSHER_SIGNATURE' => hash_hmac('sha256', $raw, $signingKey),
        ]];
    }

    protected function nowMs(): int
    {
        return (int) floor(microtime(true) * 1000);
    }
}
