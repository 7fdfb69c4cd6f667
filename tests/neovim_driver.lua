-- Drives Neovim as a user would, with the README's configuration loaded as init.lua: open a
-- Python file (which starts `gradlint server`), optionally type two lines without saving, run a
-- code action, and write what the buffer then holds to $GRADLINT_NVIM_OUT as JSON.
-- $GRADLINT_NVIM_ACTION is "quickfix" (the GL080 quick fix under the cursor) or "fixall"
-- (the README's :GradlintFixAll).

local file = os.getenv("GRADLINT_NVIM_FILE")
local out = os.getenv("GRADLINT_NVIM_OUT")
local action = os.getenv("GRADLINT_NVIM_ACTION")
local typed = os.getenv("GRADLINT_NVIM_TYPE")  -- lines to insert at the top, "\n"-separated
local WAIT = 30000

local function finish(result)
  local handle = assert(io.open(out, "w"))
  handle:write(vim.json.encode(result))
  handle:close()
  vim.cmd("qa!")
end

local function first_line_with(buf, needle)
  for index, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, true)) do
    local column = line:find(needle, 1, true)
    if column then
      return index - 1, column - 1  -- 0-based line, byte column
    end
  end
end

local function run()
  vim.cmd.edit(vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local result = { filetype = vim.bo[buf].filetype }
  local function client()
    return vim.lsp.get_clients({ bufnr = buf, name = "gradlint" })[1]
  end
  local function diagnostics_at(line)
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.lnum == line and d.code == "GL080" then
        return true
      end
    end
    return false
  end

  local line = first_line_with(buf, "torch.log(torch.softmax")
  result.attached = vim.wait(WAIT, function() return client() ~= nil end, 20)
  result.linted = vim.wait(WAIT, function() return diagnostics_at(line) end, 20)
  if typed and typed ~= "" then
    vim.api.nvim_buf_set_lines(buf, 0, 0, true, vim.split(typed, "\n", { plain = true }))
    line = first_line_with(buf, "torch.log(torch.softmax")
    -- The server lints unsaved text; the action below must not depend on it having done so yet.
    result.relinted = vim.wait(WAIT, function() return diagnostics_at(line) end, 20)
  end
  result.offset_encoding = client() and client().offset_encoding

  local tick = vim.api.nvim_buf_get_changedtick(buf)
  if action == "quickfix" then
    local row, column = first_line_with(buf, "torch.log(torch.softmax")
    vim.api.nvim_win_set_cursor(0, { row + 1, column })
    vim.lsp.buf.code_action({
      apply = true,
      context = { only = { "quickfix" } },
      filter = function(a) return a.title:find("^GL080") ~= nil and a.title:find("disable") == nil end,
    })
  else
    vim.cmd("GradlintFixAll")
  end
  result.applied = vim.wait(WAIT, function() return vim.api.nvim_buf_get_changedtick(buf) ~= tick end, 20)
  result.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
  result.modified = vim.bo[buf].modified
  result.messages = vim.api.nvim_exec2("messages", { output = true }).output
  finish(result)
end

local ok, error = pcall(run)
if not ok then
  finish({ error = tostring(error) })
end
