<?php

namespace Wiremesh\Laravel\Tests;

use Illuminate\Support\Facades\Artisan;

/** wiremesh:install on the app (its .env, config/ and resources/js/ are put back afterwards). */
class InstallTest extends TestCase
{
    /** @var array<string, ?string> */
    private array $saved = [];

    protected function setUp(): void
    {
        parent::setUp();
        foreach ([base_path('.env'), config_path('wiremesh.php'), resource_path('js/echo.js'), resource_path('js/bootstrap.js')] as $file) {
            $this->saved[$file] = is_file($file) ? file_get_contents($file) : null;
        }
        // As a fresh app: no broadcasting settings yet, a Vite bootstrap without Echo.
        file_put_contents(base_path('.env'), preg_replace('/^(PUSHER_|VITE_PUSHER_|BROADCAST_).*\n/m', '', $this->saved[base_path('.env')]));
        @unlink(config_path('wiremesh.php'));
        @unlink(resource_path('js/echo.js'));
        @mkdir(resource_path('js'), 0755, true);
        file_put_contents(resource_path('js/bootstrap.js'), "import axios from 'axios';\nwindow.axios = axios;\n");
    }

    protected function tearDown(): void
    {
        foreach ($this->saved as $file => $text) {
            $text === null ? @unlink($file) : file_put_contents($file, $text);
        }
        parent::tearDown();
    }

    public function test_install_writes_the_env_config_and_echo_then_a_second_run_changes_nothing(): void
    {
        $this->assertSame(0, Artisan::call('wiremesh:install'));
        $this->assertStringContainsString('wiremesh installed:', Artisan::output());

        $env = file_get_contents(base_path('.env'));
        $this->assertMatchesRegularExpression('/^BROADCAST_DRIVER=wiremesh$/m', $env);
        $this->assertMatchesRegularExpression('/^PUSHER_APP_ID=\d{6}$/m', $env);
        $this->assertMatchesRegularExpression('/^PUSHER_APP_KEY=[0-9a-f]{20}$/m', $env);
        $this->assertMatchesRegularExpression('/^PUSHER_APP_SECRET=[0-9a-f]{40}$/m', $env);
        $this->assertMatchesRegularExpression('/^PUSHER_PORT=6001$/m', $env);
        $this->assertMatchesRegularExpression('/^VITE_PUSHER_APP_KEY="\$\{PUSHER_APP_KEY\}"$/m', $env);
        $this->assertMatchesRegularExpression('/^VITE_PUSHER_HOST=127\.0\.0\.1$/m', $env, 'the browser connects to the host of APP_URL');
        $this->assertStringContainsString('APP_KEY=', $env, 'the rest of .env is kept');
        $this->assertFileEquals(__DIR__.'/../config/wiremesh.php', config_path('wiremesh.php'));
        $this->assertStringContainsString("from 'wiremesh-livewire'", file_get_contents(resource_path('js/echo.js')));
        $this->assertStringEndsWith("import './echo';\n", file_get_contents(resource_path('js/bootstrap.js')));

        $before = [$env, file_get_contents(resource_path('js/bootstrap.js')), file_get_contents(resource_path('js/echo.js'))];
        $this->assertSame(0, Artisan::call('wiremesh:install'));
        $this->assertStringStartsWith('wiremesh is already installed: nothing changed.', Artisan::output());
        $this->assertSame($before, [file_get_contents(base_path('.env')), file_get_contents(resource_path('js/bootstrap.js')), file_get_contents(resource_path('js/echo.js'))]);
    }

    public function test_install_keeps_existing_credentials(): void
    {
        file_put_contents(base_path('.env'), "PUSHER_APP_ID=42\nPUSHER_APP_KEY=mine\nPUSHER_APP_SECRET=also-mine\n", FILE_APPEND);

        $this->artisan('wiremesh:install')->assertSuccessful();

        $env = file_get_contents(base_path('.env'));
        $this->assertMatchesRegularExpression('/^PUSHER_APP_KEY=mine$/m', $env);
        $this->assertMatchesRegularExpression('/^PUSHER_APP_SECRET=also-mine$/m', $env);
        $this->assertSame(1, preg_match_all('/^PUSHER_APP_KEY=/m', $env));
    }
}
