# CherryPy's WSGI server (cheroot) with the same WSGI app: python3 cheroot_serve.py PORT THREADS
import sys

from cheroot import wsgi

from wsgi_app import app

server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=int(sys.argv[2]))
try:
    server.start()
except KeyboardInterrupt:
    server.stop()
