<?php

namespace Wiremesh\Laravel\Http;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Response;
use Wiremesh\Laravel\Events\WebhookEvent;
use Wiremesh\Laravel\Wiremesh;

/** wiremesh's webhooks (signed with the app secret), each event dispatched as a Laravel event. */
class WebhookController
{
    public function __invoke(Request $request, Wiremesh $wiremesh, Dispatcher $events): Response
    {
        $connection = $wiremesh->connection();
        [$refusal, $body] = SignedRequest::verify($request, $connection['key'], $wiremesh->webhookKey(), 'webhook');
        if ($refusal !== null) {
            return $refusal;
        }
        $dispatched = 0;
        foreach ($body['events'] as $event) {
            $laravelEvent = is_array($event) ? WebhookEvent::from($event, $body['time_ms']) : null;
            if ($laravelEvent !== null) {
                $events->dispatch($laravelEvent);
                $dispatched++;
            }
        }

        return new JsonResponse(['dispatched' => $dispatched]);
    }
}
