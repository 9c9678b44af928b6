-- busted output handler: the usual terminal output, then one closing line CI can read:
--   tests: N passed, M failed
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.utfTerminal")(options)
  busted.subscribe({"suite", "end"}, function()
    local passed = #handler.successes
    local failed = #handler.failures + #handler.errors
    io.write(("tests: %d passed, %d failed\n"):format(passed, failed))
    io.flush()
    return nil, true
  end)
  return handler
end
