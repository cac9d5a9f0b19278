<?php

namespace Wiremesh\Laravel\Http;

use Closure;
use Illuminate\Http\Request;
use Symfony\Component\HttpFoundation\Response;
use Wiremesh\Laravel\View\Scripts;

/**
 * With wiremesh.livewire.inject: adds @wiremeshScripts to HTML pages that hold a Livewire
 * component and do not load it already, before </head> (ahead of Livewire's own script), else
 * before </body>.
 */
class InjectScripts
{
    public function handle(Request $request, Closure $next): Response
    {
        $response = $next($request);
        $type = (string) $response->headers->get('Content-Type', '');
        if (! config('wiremesh.livewire.inject') || ! str_starts_with($type, 'text/html') || $response->isRedirection()) {
            return $response;
        }
        $html = $response->getContent();
        if (! is_string($html) || ! str_contains($html, 'wire:snapshot') || str_contains($html, Scripts::MARKER)) {
            return $response;
        }
        foreach (['</head>', '</body>'] as $tag) {
            $at = stripos($html, $tag);
            if ($at !== false) {
                $response->setContent(substr($html, 0, $at).Scripts::html()."\n".substr($html, $at));
                break;
            }
        }

        return $response;
    }
}
