-- The same request body the C++ driver sends (see http_dispatch_driver.cpp).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"model":"bench-model","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"benchmark prompt number 12345"}],"temperature":0.7,"top_p":0.9,"max_tokens":64}'
