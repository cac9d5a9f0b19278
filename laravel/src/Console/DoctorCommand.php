<?php

namespace Wiremesh\Laravel\Console;

use Wiremesh\Laravel\ServerConfig;

class DoctorCommand extends ServerCommand
{
    protected $signature = 'wiremesh:doctor
        {--server= : A running wiremesh to check too, e.g. http://127.0.0.1:6001}';

    protected $description = 'Check wiremesh\'s configuration (as wiremesh:start builds it) and this app with wiremesh doctor';

    public function handle(ServerConfig $builder): int
    {
        $file = $this->writeConfig($builder);
        $argv = [...$this->program(), 'doctor', '--config', $file, '--app-url', $builder->upstream()];
        if ($this->option('server')) {
            array_push($argv, '--server', (string) $this->option('server'));
        }

        return $this->runForeground($argv);
    }
}
