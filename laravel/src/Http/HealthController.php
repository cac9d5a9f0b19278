<?php

namespace Wiremesh\Laravel\Http;

use Symfony\Component\HttpFoundation\Response;

/** `GET /wiremesh/up`: wiremesh's health check of the app (no session, no database). */
class HealthController
{
    public function __invoke(): Response
    {
        return new Response('OK', 200, ['Content-Type' => 'text/plain', 'Cache-Control' => 'no-store']);
    }
}
