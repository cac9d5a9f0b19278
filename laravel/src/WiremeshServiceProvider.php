<?php

namespace Wiremesh\Laravel;

use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Contracts\Http\Kernel;
use Illuminate\Support\Facades\Blade;
use Illuminate\Support\Facades\Route;
use Illuminate\Support\ServiceProvider;
use Wiremesh\Laravel\Broadcasting\WiremeshBroadcaster;
use Wiremesh\Laravel\Console\DoctorCommand;
use Wiremesh\Laravel\Console\InstallCommand;
use Wiremesh\Laravel\Console\StartCommand;
use Wiremesh\Laravel\Http\AssetController;
use Wiremesh\Laravel\Http\FragmentController;
use Wiremesh\Laravel\Http\HealthController;
use Wiremesh\Laravel\Http\InjectScripts;
use Wiremesh\Laravel\Http\WebhookController;
use Wiremesh\Laravel\View\FragmentComponent;
use Wiremesh\Laravel\View\Scripts;

class WiremeshServiceProvider extends ServiceProvider
{
    public const CONFIG = __DIR__.'/../config/wiremesh.php';

    public function register(): void
    {
        $this->mergeConfigFrom(self::CONFIG, 'wiremesh');
        $this->app->singleton(Wiremesh::class, fn ($app) => new Wiremesh($app['config']));
        $this->app->singleton(ServerConfig::class, fn ($app) => new ServerConfig($app['config'], $app['router'], $app[Wiremesh::class]));

        // The `wiremesh` connection, unless config/broadcasting.php has its own: Laravel's PUSHER_*
        // names, published with Laravel's HTTP client (no Pusher PHP SDK needed).
        $config = $this->app['config'];
        if (! $config->has('broadcasting.connections.wiremesh')) {
            $config->set('broadcasting.connections.wiremesh', [
                'driver' => 'wiremesh',
                'key' => env('PUSHER_APP_KEY'),
                'secret' => env('PUSHER_APP_SECRET'),
                'app_id' => env('PUSHER_APP_ID'),
                'options' => [
                    'host' => env('PUSHER_HOST', '127.0.0.1'),
                    'port' => (int) env('PUSHER_PORT', 6001),
                    'scheme' => env('PUSHER_SCHEME', 'http'),
                ],
            ]);
        }
    }

    public function boot(): void
    {
        $this->app->make(BroadcastManager::class)
            ->extend('wiremesh', fn ($app, array $config) => new WiremeshBroadcaster($config));
        $this->routes();

        Blade::component('wiremesh-fragment', FragmentComponent::class);
        Blade::directive('wiremeshScripts', fn () => '<?php echo \\'.Scripts::class.'::html(); ?>');
        Blade::directive('wiremeshFragment', fn (string $args) => "<?php echo \\".FragmentComponent::class."::html({$args}); ?>");

        if ($this->app->runningInConsole()) {
            $this->commands([InstallCommand::class, StartCommand::class, DoctorCommand::class]);
            $this->publishes([self::CONFIG => config_path('wiremesh.php')], 'wiremesh-config');
        }
        if (config('wiremesh.livewire.inject') && $this->app->bound(Kernel::class)) {
            $kernel = $this->app->make(Kernel::class);
            if (method_exists($kernel, 'appendMiddlewareToGroup')) {
                $kernel->appendMiddlewareToGroup('web', InjectScripts::class);
            }
        }
    }

    /** Outside the `web` group: no session, no cookies, no CSRF (wiremesh signs these requests). */
    private function routes(): void
    {
        if ($this->app->routesAreCached()) {
            return;
        }
        $config = $this->app['config'];
        Route::post(trim($config->get('wiremesh.webhooks.path', 'wiremesh/webhook'), '/'), WebhookController::class)
            ->name('wiremesh.webhook');
        Route::post(trim($config->get('wiremesh.fragments.path', 'wiremesh/fragments'), '/'), FragmentController::class)
            ->name('wiremesh.fragments');
        // Controllers only, no closures: `php artisan route:cache` serializes these routes.
        Route::get('wiremesh/up', HealthController::class)->name('wiremesh.up');
        Route::get('wiremesh/assets/{file}', AssetController::class)
            ->where('file', '[A-Za-z0-9.\-]+\.js')->name('wiremesh.assets');
    }
}
