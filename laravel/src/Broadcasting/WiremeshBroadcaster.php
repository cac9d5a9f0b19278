<?php

namespace Wiremesh\Laravel\Broadcasting;

use Illuminate\Broadcasting\BroadcastException;
use Illuminate\Broadcasting\Broadcasters\Broadcaster;
use Illuminate\Broadcasting\Broadcasters\UsePusherChannelConventions;
use Illuminate\Support\Arr;
use Illuminate\Support\Facades\Http;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * Laravel's PusherBroadcaster without the Pusher PHP SDK (driver `wiremesh`): the same channel
 * conventions and authorization answers, signed here, and events published with Laravel's HTTP
 * client to the Pusher HTTP API (`POST /apps/{id}/events`, auth_signature).
 */
class WiremeshBroadcaster extends Broadcaster
{
    use UsePusherChannelConventions;

    /** @param  array{key: string, secret: string, app_id: string, options: array{host: string, port: int, scheme: string}}  $config */
    public function __construct(private readonly array $config)
    {
    }

    public function auth($request)
    {
        $channelName = $this->normalizeChannelName($request->channel_name);

        if (empty($request->channel_name) ||
            ($this->isGuardedChannel($request->channel_name) && ! $this->retrieveUser($request, $channelName))) {
            throw new AccessDeniedHttpException;
        }

        return parent::verifyUserCanAccessChannel($request, $channelName);
    }

    public function validAuthenticationResponse($request, $result)
    {
        $channel = (string) $request->channel_name;
        $socketId = (string) $request->socket_id;
        if (! preg_match('/^\d+\.\d+$/', $socketId)) {
            throw new AccessDeniedHttpException('Invalid socket id');
        }
        if (str_starts_with($channel, 'private')) {
            return ['auth' => $this->sign("{$socketId}:{$channel}")];
        }

        $user = $this->retrieveUser($request, $this->normalizeChannelName($channel));
        $userId = method_exists($user, 'getAuthIdentifierForBroadcasting')
            ? $user->getAuthIdentifierForBroadcasting()
            : $user->getAuthIdentifier();
        $channelData = json_encode(['user_id' => (string) $userId, 'user_info' => $result]);

        return ['auth' => $this->sign("{$socketId}:{$channel}:{$channelData}"), 'channel_data' => $channelData];
    }

    public function broadcast(array $channels, $event, array $payload = [])
    {
        $socket = Arr::pull($payload, 'socket');
        foreach (array_chunk($this->formatChannels($channels), 100) as $chunk) {
            $body = array_filter([
                'name' => $event,
                'channels' => $chunk,
                'data' => json_encode($payload),
                'socket_id' => $socket,
            ], fn ($value) => $value !== null);
            $this->post('/apps/'.$this->config['app_id'].'/events', json_encode($body));
        }
    }

    private function post(string $path, string $body): void
    {
        $response = Http::timeout(5)->withBody($body, 'application/json')->post($this->signedUrl('POST', $path, $body));
        if (! $response->successful()) {
            throw new BroadcastException("Pusher HTTP API answered {$response->status()}: {$response->body()}");
        }
    }

    private function signedUrl(string $method, string $path, string $body): string
    {
        $query = [
            'auth_key' => $this->config['key'],
            'auth_timestamp' => (string) time(),
            'auth_version' => '1.0',
            'body_md5' => md5($body),
        ];
        ksort($query);
        $queryString = http_build_query($query);
        $query['auth_signature'] = hash_hmac('sha256', "{$method}\n{$path}\n{$queryString}", $this->config['secret']);
        $options = $this->config['options'] + ['scheme' => 'http', 'host' => '127.0.0.1', 'port' => 6001];

        return "{$options['scheme']}://{$options['host']}:{$options['port']}{$path}?".http_build_query($query);
    }

    private function sign(string $text): string
    {
        return $this->config['key'].':'.hash_hmac('sha256', $text, $this->config['secret']);
    }
}
