<?php

namespace Wiremesh\Laravel;

use Closure;
use Illuminate\Contracts\Config\Repository;
use Illuminate\Contracts\Support\Htmlable;
use Illuminate\Contracts\Support\Renderable;
use Illuminate\Support\Collection;
use InvalidArgumentException;
use Symfony\Component\HttpFoundation\Response;

/**
 * The package's face (the `Wiremesh` facade): the broadcasting connection wiremesh serves, the
 * shared fragments the app registered, and the keys that sign what wiremesh sends.
 */
class Wiremesh
{
    /** A fragment name as wiremesh accepts it. */
    public const FRAGMENT_NAME = '/^[A-Za-z0-9_\-.:]{1,64}$/';

    /** @var array<string, array{render: Closure, channels: list<string>}> */
    private array $fragments = [];

    public function __construct(private readonly Repository $config)
    {
    }

    /**
     * Registers a shared fragment: `$render($channel, $members)` returns its HTML (a view, an
     * Htmlable or a string), the same for every viewer. `$channels` are the channel patterns it
     * may be viewed on (`*` = any run of characters); wiremesh refuses any other.
     *
     * @param  Closure(string, Collection<string, array<string, mixed>>): mixed  $render
     * @param  list<string>  $channels
     */
    public function fragment(string $name, Closure $render, array $channels = ['*']): void
    {
        if (! preg_match(self::FRAGMENT_NAME, $name)) {
            throw new InvalidArgumentException("A fragment name is 1-64 characters A-Z a-z 0-9 _ - . :, not \"{$name}\"");
        }
        if ($channels === []) {
            throw new InvalidArgumentException("Fragment {$name} must list at least one channel pattern");
        }
        $this->fragments[$name] = ['render' => $render, 'channels' => array_values($channels)];
    }

    public function hasFragment(string $name): bool
    {
        return isset($this->fragments[$name]);
    }

    /** @return array<string, list<string>> fragment name → channel patterns */
    public function fragmentChannels(): array
    {
        return array_map(fn ($f) => $f['channels'], $this->fragments);
    }

    public function fragmentAllowedOn(string $name, string $channel): bool
    {
        foreach ($this->fragments[$name]['channels'] ?? [] as $pattern) {
            $regex = '/^'.str_replace('\\*', '.*', preg_quote($pattern, '/')).'$/';
            if (preg_match($regex, $channel)) {
                return true;
            }
        }

        return false;
    }

    /**
     * The fragment's HTML for this channel and these presence members (user id → user info).
     *
     * @param  iterable<string, array<string, mixed>>  $members
     */
    public function renderFragment(string $name, string $channel, iterable $members = []): string
    {
        if (! isset($this->fragments[$name])) {
            throw new InvalidArgumentException("No fragment {$name}: register it with Wiremesh::fragment('{$name}', fn (\$channel, \$members) => view(...))");
        }
        $html = ($this->fragments[$name]['render'])($channel, Collection::make($members));

        return match (true) {
            $html instanceof Renderable => $html->render(),
            $html instanceof Htmlable => $html->toHtml(),
            $html instanceof Response => (string) $html->getContent(),
            default => (string) $html,
        };
    }

    /**
     * The broadcasting connection wiremesh serves: `app_id`, `key`, `secret`, `options`
     * (host, port, scheme).
     *
     * @return array{app_id: string, key: string, secret: string, options: array<string, mixed>, driver?: string}
     */
    public function connection(): array
    {
        $name = $this->connectionName();
        $connection = $this->config->get("broadcasting.connections.{$name}");
        if (! is_array($connection)) {
            throw new InvalidArgumentException("The broadcasting connection {$name} is not configured (config/broadcasting.php): run php artisan wiremesh:install");
        }
        foreach (['app_id', 'key', 'secret'] as $field) {
            if (empty($connection[$field])) {
                throw new InvalidArgumentException("broadcasting.connections.{$name}.{$field} is empty: set it in .env (php artisan wiremesh:install generates them)");
            }
        }
        $connection['options'] ??= [];

        return $connection;
    }

    public function connectionName(): string
    {
        return (string) ($this->config->get('wiremesh.connection') ?: $this->config->get('broadcasting.default'));
    }

    /** What wiremesh signs render requests with: a key derived from the app secret, never the secret itself. */
    public function fragmentKey(): string
    {
        return hash_hmac('sha256', 'wiremesh-fragment-v1', $this->connection()['secret']);
    }

    /** What wiremesh signs webhooks with: the app secret, as Pusher does. */
    public function webhookKey(): string
    {
        return $this->connection()['secret'];
    }

    public function healthPath(): string
    {
        return 'wiremesh/up';
    }
}
