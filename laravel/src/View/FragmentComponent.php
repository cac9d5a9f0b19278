<?php

namespace Wiremesh\Laravel\View;

use Illuminate\View\Component;
use Wiremesh\Laravel\Wiremesh;

/**
 * `<x-wiremesh-fragment name="online-users" channel="presence-lobby" />`: the fragment's first
 * HTML inside its marker; wiremesh-livewire keeps it up to date (wire:ignore keeps Livewire's
 * morph away from it).
 */
class FragmentComponent extends Component
{
    public function __construct(public string $name, public string $channel)
    {
    }

    public function render(): \Closure
    {
        return fn (array $data) => self::html($this->name, $this->channel, $data['attributes']->toHtml());
    }

    public static function html(string $name, string $channel, string $attributes = ''): string
    {
        $inner = app(Wiremesh::class)->renderFragment($name, $channel, []);

        return '<div data-wiremesh-fragment="'.e($name).'" data-channel="'.e($channel).'" wire:ignore'
            .($attributes === '' ? '' : ' '.$attributes).'>'.$inner.'</div>';
    }
}
