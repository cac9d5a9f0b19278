<?php

namespace Wiremesh\Laravel\Http;

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Log;
use Symfony\Component\HttpFoundation\Response;

/**
 * Checks a request wiremesh signed in Pusher's webhook format: `X-Pusher-Key` is the app key and
 * `X-Pusher-Signature` the hex HMAC-SHA256 of the raw body with `$signingKey`; the body is a JSON
 * object with `time_ms` and a list of `events`. Answers the refusal (401, 413, 400), or null.
 */
final class SignedRequest
{
    public const MAX_BODY_BYTES = 4 * 1024 * 1024;

    /** @return array{0: ?Response, 1: array<string, mixed>} the refusal, else the decoded body */
    public static function verify(Request $request, string $key, string $signingKey, string $what): array
    {
        $body = $request->getContent();
        if (strlen($body) > self::MAX_BODY_BYTES) {
            return [self::refuse($request, 413, "{$what}: body larger than ".self::MAX_BODY_BYTES.' bytes'), []];
        }
        $signature = (string) $request->header('X-Pusher-Signature', '');
        if (! hash_equals($key, (string) $request->header('X-Pusher-Key', ''))
            || ! hash_equals(hash_hmac('sha256', $body, $signingKey), strtolower($signature))) {
            return [self::refuse($request, 401, "{$what}: bad X-Pusher-Key or X-Pusher-Signature"), []];
        }
        $decoded = json_decode($body, true);
        if (! is_array($decoded) || ! is_array($decoded['events'] ?? null) || ! is_int($decoded['time_ms'] ?? null)) {
            return [self::refuse($request, 400, "{$what}: body is not {\"time_ms\": …, \"events\": […]}"), []];
        }

        return [null, $decoded];
    }

    public static function refuse(Request $request, int $status, string $reason): Response
    {
        Log::warning("wiremesh: refused {$reason}", ['ip' => $request->ip(), 'path' => $request->path()]);

        return new Response($status === 401 ? 'Invalid signature' : $reason, $status, ['Content-Type' => 'text/plain']);
    }
}
