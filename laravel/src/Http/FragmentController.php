<?php

namespace Wiremesh\Laravel\Http;

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Log;
use Symfony\Component\HttpFoundation\Response;
use Throwable;
use Wiremesh\Laravel\Wiremesh;

/**
 * Renders a shared fragment for wiremesh (docs/fragments.md, "The render request"): outside the
 * session middleware, signed with the key derived from the app secret, answers the HTML.
 */
class FragmentController
{
    public function __invoke(Request $request, Wiremesh $wiremesh): Response
    {
        [$refusal, $body] = SignedRequest::verify($request, $wiremesh->connection()['key'], $wiremesh->fragmentKey(), 'fragment render');
        if ($refusal !== null) {
            return $refusal;
        }
        $maxAgeMs = 1000 * (int) config('wiremesh.fragments.max_age', 60);
        if (abs((int) floor(microtime(true) * 1000) - $body['time_ms']) > $maxAgeMs) {
            return SignedRequest::refuse($request, 401, 'fragment render: time_ms is more than '.($maxAgeMs / 1000).' s away from now');
        }
        $event = $body['events'][0] ?? null;
        if (! is_array($event) || ($event['name'] ?? null) !== 'fragment_render'
            || ! is_string($event['fragment'] ?? null) || ! is_string($event['channel'] ?? null)) {
            return SignedRequest::refuse($request, 400, 'fragment render: events[0] is not a fragment_render');
        }
        $name = $event['fragment'];
        $channel = $event['channel'];
        if (! $wiremesh->hasFragment($name) || ! $wiremesh->fragmentAllowedOn($name, $channel)) {
            return SignedRequest::refuse($request, 404, "fragment render: no fragment {$name} on {$channel}");
        }
        $members = [];
        foreach (is_array($event['members'] ?? null) ? $event['members'] : [] as $member) {
            if (is_array($member) && isset($member['user_id'])) {
                $members[(string) $member['user_id']] = is_array($member['user_info'] ?? null) ? $member['user_info'] : [];
            }
        }
        try {
            $html = $wiremesh->renderFragment($name, $channel, $members);
        } catch (Throwable $e) {
            // Reported with its trace in the app's log; wiremesh only needs to know it failed.
            report($e);
            Log::warning('wiremesh: fragment render failed', ['fragment' => $name, 'channel' => $channel, 'node' => $request->header('X-Wiremesh-Node')]);

            return new Response('Fragment render failed', 500, ['Content-Type' => 'text/plain']);
        }

        return new Response($html, 200, ['Content-Type' => 'text/html; charset=UTF-8', 'Cache-Control' => 'no-store']);
    }
}
