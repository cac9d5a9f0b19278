<?php

namespace Wiremesh\Laravel\Facades;

use Illuminate\Support\Facades\Facade;

/**
 * @method static void fragment(string $name, \Closure $render, array $channels = ['*'])
 * @method static string renderFragment(string $name, string $channel, iterable $members = [])
 * @method static array connection()
 *
 * @see \Wiremesh\Laravel\Wiremesh
 */
class Wiremesh extends Facade
{
    protected static function getFacadeAccessor(): string
    {
        return \Wiremesh\Laravel\Wiremesh::class;
    }
}
